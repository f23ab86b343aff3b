"""Systems of two linear equations in x and y, solved by elimination.

Every step is an equation in x and y; a checker substitutes `meta["variables"]` (the
solution) into both sides. Each step's computed part is its right-hand side, so an
injected error always makes that step's claim false under the substitution.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import assignment_score
from data_gen.chain import show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob
from data_gen.poly import mono


@dataclass(frozen=True)
class LinearSystemConfig(TaskConfig):
    task = "linear_system"
    max_coef: int = knob(5, 12, 1, 100, "largest |coefficient|")
    max_solution: int = knob(9, 30, 1, 1000, "largest |x|, |y| (integers)")


def lin(a: int, b: int, rhs: Any) -> str:
    """a*x + b*y = rhs with tidy signs."""

    def term(c: int, v: str, first: bool) -> str:
        mag = v if abs(c) == 1 else f"{abs(c)}*{v}"
        if first:
            return f"-{mag}" if c < 0 else mag
        return f" - {mag}" if c < 0 else f" + {mag}"

    if a == 0:
        left = term(b, "y", True)
    elif b == 0:
        left = term(a, "x", True)
    else:
        left = term(a, "x", True) + term(b, "y", False)
    return f"{left} = {show(rhs, fraction=True)}"


class LinearSystem:
    name = "linear_system"
    description = "two linear equations in x and y, solved by elimination"
    config_cls = LinearSystemConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: LinearSystemConfig) -> dict[str, Any]:
        nz = [v for v in range(-cfg.max_coef, cfg.max_coef + 1) if v]
        while True:
            a1, b1, a2, b2 = (rng.choice(nz) for _ in range(4))
            if a1 * b2 - a2 * b1 != 0:
                break
        x, y = (
            rng.choice([v for v in range(-cfg.max_solution, cfg.max_solution + 1) if v]) for _ in range(2)
        )
        return {"a1": a1, "b1": b1, "a2": a2, "b2": b2, "x": x, "y": y}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        a1, b1, a2, b2, x, y = (params[k] for k in ("a1", "b1", "a2", "b2", "x", "y"))
        c1, c2 = a1 * x + b1 * y, a2 * x + b2 * y
        steps: list[str] = []
        r1 = tamper.at(len(steps), c1 * a2)
        steps.append(f"Multiply the first equation by {a2}: {lin(a1 * a2, b1 * a2, r1)}")
        r2 = tamper.at(len(steps), c2 * a1)
        steps.append(f"Multiply the second equation by {a1}: {lin(a2 * a1, b2 * a1, r2)}")
        bb = b1 * a2 - b2 * a1
        r = tamper.at(len(steps), r1 - r2, swapped=r2 - r1)
        steps.append(f"Subtract the second from the first: {lin(0, bb, r)}")
        yv = tamper.at(len(steps), Fraction(r, bb))
        steps.append(f"Divide both sides by {bb}: y = {show(yv, fraction=True)}")
        yt = show(yv, fraction=True)
        yt = f"({yt})" if yv < 0 or "/" in yt else yt
        rest = tamper.at(len(steps), c1 - b1 * yv)
        bt = f"({b1})" if b1 < 0 else str(b1)
        steps.append(
            f"Substitute y into the first equation: {mono(a1, 1)} = {c1} - {bt}*{yt} = {show(rest, fraction=True)}"
        )
        xv = tamper.at(len(steps), rest / a1)
        steps.append(f"Divide both sides by {a1}: x = {show(xv, fraction=True)}")
        e1, e2 = lin(a1, b1, c1), lin(a2, b2, c2)
        return Solution(
            prompt=f"Solve the system: {e1} and {e2}. Answer as x = ..., y = ....",
            answer=f"x = {show(xv, fraction=True)}, y = {show(yv, fraction=True)}",
            steps=steps,
            meta={"equations": [e1, e2], "variables": {"x": str(x), "y": str(y)}, "step_check": "substitute"},
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return assignment_score(item["answer"], response)


TASK = LinearSystem()
