"""Arithmetic and geometric sequences: n-th term and partial sums from the first terms."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob


@dataclass(frozen=True)
class SequencesConfig(TaskConfig):
    task = "sequences"
    max_start: int = knob(10, 100, 1, 10_000, "largest first term")
    max_step: int = knob(5, 20, 1, 1000, "largest common difference (ratio is at most 3)")
    max_n: int = knob(10, 40, 3, 200, "largest term index asked for")
    geometric_prob: float = knob(0.25, 0.5, 0.0, 1.0, "chance of a geometric sequence")
    sum_prob: float = knob(0.3, 0.5, 0.0, 1.0, "chance of asking for the sum of the first n terms")


class Sequences:
    name = "sequences"
    description = "arithmetic and geometric sequences: n-th term and sum of the first n terms"
    config_cls = SequencesConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: SequencesConfig) -> dict[str, Any]:
        geometric = rng.random() < cfg.geometric_prob
        a = rng.randint(1, cfg.max_start)
        if geometric:
            step = rng.choice((2, 3, -2))
            n = rng.randint(4, min(cfg.max_n, 10))
        else:
            step = rng.choice((1, -1)) * rng.randint(1, cfg.max_step)
            n = rng.randint(4, cfg.max_n)
        return {"geometric": geometric, "a": a, "step": step, "n": n, "sum": rng.random() < cfg.sum_prob}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        g, a, step, n, want_sum = params["geometric"], params["a"], params["step"], params["n"], params["sum"]
        terms = [a * step**k for k in range(3)] if g else [a + step * k for k in range(3)]
        shown = ", ".join(str(t) for t in terms)
        ask = f"the sum of the first {n} terms" if want_sum else f"term number {n}"
        prompt = f"The sequence {shown}, ... is {'geometric' if g else 'arithmetic'}. Find {ask}."
        c = Chain(tamper)
        t1, t2 = terms[0], terms[1]
        p2 = f"({t2})" if t2 < 0 else str(t2)
        if g:
            r = c.calc(
                "Common ratio", f"{p2} / {t1}", Fraction(t2, t1), swapped=Fraction(t1, t2), avoid=(0, 1)
            )
            rr = f"({show(r)})" if r < 0 else show(r)
            last = c.calc(f"Term {n}", f"{t1} * {rr}^({n} - 1)", t1 * r ** (n - 1))
            if want_sum:
                last = c.calc(
                    f"Sum of {n} terms", f"{t1} * ({rr}^{n} - 1) / ({rr} - 1)", t1 * (r**n - 1) / (r - 1)
                )
        else:
            p1 = f"({t1})" if t1 < 0 else str(t1)
            d = c.calc("Common difference", f"{p2} - {p1}", t2 - t1, swapped=t1 - t2)
            dd = f"({show(d)})" if d < 0 else show(d)
            last = c.calc(f"Term {n}", f"{t1} + ({n} - 1) * {dd}", t1 + (n - 1) * d)
            if want_sum:
                ll = f"({show(last)})" if last < 0 else show(last)
                last = c.calc(f"Sum of {n} terms", f"{n} * ({t1} + {ll}) / 2", Fraction(n) * (t1 + last) / 2)
        return Solution(prompt, show(last), c.steps, {"step_check": "equal"})

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response)


TASK = Sequences()
