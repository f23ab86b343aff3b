"""GSM-style word problems from templates: rates, ages, mixtures, work, shopping.

Each template draws its numbers, then solves with a `Chain` so every step is a checkable
calculation over numbers stated in the problem or computed in an earlier step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import fmt_decimal, numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

NAMES = ("Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo")
TEMPLATES = ("rate", "ages", "mixture", "work", "shopping")


@dataclass(frozen=True)
class WordProblemsConfig(TaskConfig):
    task = "word_problems"
    scale: int = knob(10, 100, 2, 10_000, "largest basic quantity (speed, price, age...)")
    extra_steps: int = knob(0, 2, 0, 3, "additional legs/items that add steps")


class WordProblems:
    name = "word_problems"
    description = "GSM-style word problems from templates: rates, ages, mixtures, work, shopping"
    config_cls = WordProblemsConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: WordProblemsConfig) -> dict[str, Any]:
        k = 2 + rng.randint(0, cfg.extra_steps)
        s = cfg.scale
        return {
            "template": rng.choice(TEMPLATES),
            "name": rng.choice(NAMES),
            "nums": [rng.randint(2, s) for _ in range(k)],
            "small": [rng.randint(2, 9) for _ in range(k)],
            "pcts": [rng.choice((5, 10, 12, 15, 20, 25, 30, 40, 50)) for _ in range(k)],
        }

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        t, name, nums, small, pcts = (params[k] for k in ("template", "name", "nums", "small", "pcts"))
        c = Chain(tamper, decimals=4 if t == "mixture" else None, fraction=t == "work")
        meta: dict[str, Any] = {"step_check": "equal", "template": t}
        if t == "rate":
            legs = ", then ".join(f"{v} km/h for {h} hours" for v, h in zip(nums, small))
            prompt = f"{name} drives at {legs}. How many kilometres does {name} drive in total?"
            dists = [c.calc(f"Leg {i + 1}", f"{v} * {h}", v * h) for i, (v, h) in enumerate(zip(nums, small))]
            ans = c.calc("Total", " + ".join(show(d) for d in dists), sum(dists))
        elif t == "ages":
            age, k, years = nums[0], small[0], small[1]
            prompt = (
                f"{name} is {age} years old. {name}'s grandmother is {k} times as old. "
                f"How old will the grandmother be in {years} years?"
            )
            g = c.calc("Grandmother now", f"{k} * {age}", k * age)
            ans = c.calc(f"In {years} years", f"{show(g)} + {years}", g + years)
        elif t == "mixture":
            parts = " and ".join(f"{v} litres of a {p}% solution" for v, p in zip(nums, pcts))
            prompt = (
                f"{name} mixes {parts}. What is the concentration of the mixture in percent? "
                "Round to 2 decimal places."
            )
            solutes = [
                c.calc(f"Solute {i + 1}", f"{v} * {p} / 100", Fraction(v * p, 100))
                for i, (v, p) in enumerate(zip(nums, pcts))
            ]
            tot = c.calc("Total solute", " + ".join(show(x) for x in solutes), sum(solutes))
            vol = c.calc("Total volume", " + ".join(str(v) for v in nums), sum(nums))
            ans = c.calc("Concentration", f"{show(tot)} / {show(vol)} * 100", tot / vol * 100)
            meta["abs_tol"] = 0.00005
            return Solution(prompt, fmt_decimal(ans, 2), c.steps, meta)
        elif t == "work":
            hours = [h + 1 for h in small]
            who = ", ".join(f"worker {i + 1} alone in {h} hours" for i, h in enumerate(hours))
            prompt = (
                f"A job takes {who}. How many hours does it take all of them together? "
                "Give the answer as a reduced fraction."
            )
            rate = c.calc(
                "Combined rate", " + ".join(f"1/{h}" for h in hours), sum(Fraction(1, h) for h in hours)
            )
            ans = c.calc("Time", f"1 / ({show(rate, fraction=True)})", 1 / rate, swapped=rate)
        else:
            items = ", ".join(f"{q} items at {p} dollars each" for q, p in zip(small, nums))
            cost_sum = sum(q * p for q, p in zip(small, nums))
            paid = (cost_sum // 50 + 1) * 50
            prompt = f"{name} buys {items}, and pays with {paid} dollars. How much change does {name} get?"
            costs = [
                c.calc(f"Cost {i + 1}", f"{q} * {p}", q * p) for i, (q, p) in enumerate(zip(small, nums))
            ]
            tot = c.calc("Total cost", " + ".join(show(x) for x in costs), sum(costs))
            ans = c.calc("Change", f"{paid} - {show(tot)}", paid - tot, swapped=tot - paid)
        return Solution(prompt, show(ans, fraction=t == "work"), c.steps, meta)

    def score(self, item: dict[str, Any], response: str) -> float:
        tol = Fraction(1, 100) if item["meta"].get("template") == "mixture" else 0
        return numeric_score(item["answer"], response, tol)


TASK = WordProblems()
