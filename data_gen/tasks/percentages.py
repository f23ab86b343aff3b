"""Percentages: percent of a number, percent increase/decrease, what percent, reverse percentage."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

KINDS = ("of", "change", "what_percent", "reverse")


@dataclass(frozen=True)
class PercentagesConfig(TaskConfig):
    task = "percentages"
    max_base: int = knob(200, 5000, 10, 1_000_000, "largest base amount")
    percent_step: int = knob(5, 1, 1, 50, "percents are multiples of this")
    max_percent: int = knob(50, 150, 1, 500, "largest percent")


class Percentages:
    name = "percentages"
    description = "percent of, percent change, what percent, and reverse percentage problems"
    config_cls = PercentagesConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: PercentagesConfig) -> dict[str, Any]:
        kind = rng.choice(KINDS)
        base = (
            rng.randint(2, cfg.max_base // 10 if cfg.max_base >= 20 else 2) * 10
            if rng.random() < 0.5
            else rng.randint(10, cfg.max_base)
        )
        pct = rng.randint(1, max(1, cfg.max_percent // cfg.percent_step)) * cfg.percent_step
        return {"kind": kind, "base": base, "pct": pct, "up": rng.random() < 0.5}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        kind, base, pct, up = params["kind"], params["base"], params["pct"], params["up"]
        c = Chain(tamper)
        if kind == "of":
            prompt = f"What is {pct}% of {base}?"
            rate = c.calc("Percent as a decimal", f"{pct} / 100", Fraction(pct, 100))
            ans = c.calc("Multiply", f"{show(rate)} * {base}", rate * base)
        elif kind == "change":
            word = "increases" if up else "decreases"
            prompt = f"A price of {base} {word} by {pct}%. What is the new price?"
            ch = c.calc("Change", f"{base} * {pct} / 100", Fraction(base * pct, 100))
            op = "+" if up else "-"
            ans = c.calc(
                "New price",
                f"{base} {op} {show(ch)}",
                base + ch if up else base - ch,
                swapped=None if up else ch - base,
            )
        elif kind == "what_percent":
            part = Fraction(base * pct, 100)
            prompt = f"What percent of {base} is {show(part)}?"
            ratio = c.calc("Divide", f"{show(part)} / {base}", part / base, swapped=Fraction(base) / part)
            ans = c.calc("Percent", f"{show(ratio)} * 100", ratio * 100)
        else:
            final = Fraction(base * (100 + pct if up else 100 - pct), 100) if (up or pct < 100) else None
            if final is None:  # a decrease of 100% or more has no reverse; ask for an increase instead
                up, final = True, Fraction(base * (100 + pct), 100)
            word = "increase" if up else "decrease"
            prompt = f"After a {pct}% {word} a price is {show(final)}. What was the original price?"
            mult = c.calc(
                "Multiplier",
                f"1 {'+' if up else '-'} {pct} / 100",
                Fraction(100 + (pct if up else -pct), 100),
            )
            ans = c.calc("Original", f"{show(final)} / {show(mult)}", final / mult, swapped=mult / final)
        return Solution(prompt, show(ans), c.steps, {"step_check": "equal", "kind": kind})

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response)


TASK = Percentages()
