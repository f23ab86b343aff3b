"""Linear equations in one unknown: a*x + b = c*x + d.

Steps are equations in x; a step checker substitutes the solution recorded in
`meta["variables"]` and checks the two sides agree. The solution is never 0, so a wrong
coefficient always makes its step's claim false under that substitution.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import numeric_score
from data_gen.chain import show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob
from data_gen.poly import mono, poly_str


@dataclass(frozen=True)
class LinearEquationConfig(TaskConfig):
    task = "linear_equation"
    max_coef: int = knob(5, 20, 1, 1000, "largest |coefficient|")
    max_solution: int = knob(10, 50, 1, 10_000, "largest |solution| (integer solutions)")
    both_sides_prob: float = knob(0.0, 0.7, 0.0, 1.0, "chance x appears on both sides")
    fraction_prob: float = knob(0.0, 0.3, 0.0, 1.0, "chance of a non-integer solution")


def side(a: Fraction | int, b: Fraction | int) -> str:
    return poly_str({1: Fraction(a), 0: Fraction(b)})


class LinearEquation:
    name = "linear_equation"
    description = "linear equations a*x + b = c*x + d, solved by balancing both sides"
    config_cls = LinearEquationConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: LinearEquationConfig) -> dict[str, Any]:
        c = rng.randint(-cfg.max_coef, cfg.max_coef) if rng.random() < cfg.both_sides_prob else 0
        a = c
        while a == c or a == 0:
            a = rng.randint(-cfg.max_coef, cfg.max_coef)
        x = Fraction(0)
        while x == 0:
            x = Fraction(rng.randint(-cfg.max_solution, cfg.max_solution))
            if rng.random() < cfg.fraction_prob and abs(a - c) > 1:
                x += Fraction(rng.randint(1, abs(a - c) - 1), abs(a - c))
        b = rng.randint(-cfg.max_coef * 5, cfg.max_coef * 5)
        d = (a - c) * x + b  # integer: (a - c) * x is integral by construction
        return {"a": a, "b": b, "c": c, "d": int(d)}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        a, b, c, d = params["a"], params["b"], params["c"], params["d"]
        x = Fraction(d - b, a - c)
        equation = f"{side(a, b)} = {side(c, d)}"
        steps: list[str] = []
        coef = a
        if c != 0:
            coef = tamper.at(len(steps), a - c, swapped=c - a, avoid=(0,))
            verb = f"Subtract {mono(c, 1)} from" if c > 0 else f"Add {mono(-c, 1)} to"
            steps.append(f"{verb} both sides: {side(coef, b)} = {d}")
        rhs = d
        if b != 0:
            rhs = tamper.at(len(steps), d - b, swapped=b - d)
            verb = f"Subtract {b} from" if b > 0 else f"Add {-b} to"
            steps.append(f"{verb} both sides: {mono(coef, 1)} = {rhs}")
        if coef != 1 or not steps:
            val = tamper.at(
                len(steps),
                Fraction(rhs, coef) if coef else Fraction(rhs),
                swapped=Fraction(coef, rhs) if rhs else None,
            )
            steps.append(f"Divide both sides by {coef}: x = {show(val, fraction=True)}")
        else:
            val = Fraction(rhs)
        return Solution(
            prompt=f"Solve {equation} for x.",
            answer=show(val, fraction=True),
            steps=steps,
            meta={
                "equation": equation,
                "variables": {"x": show(x, fraction=True)},
                "step_check": "substitute",
            },
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response)


TASK = LinearEquation()
