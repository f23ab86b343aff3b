"""Quadratic equations with integer roots, solved by factoring and checked with Vieta.

Steps: the factorisation (an identity in x), then the sum and the product of the roots
found (numeric claims). Roots are distinct, so the answer lists two numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import list_score
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, identity_meta, knob
from data_gen.poly import poly_str


@dataclass(frozen=True)
class QuadraticConfig(TaskConfig):
    task = "quadratic"
    max_root: int = knob(10, 30, 1, 1000, "largest |root|")
    max_leading: int = knob(1, 4, 1, 20, "largest leading coefficient")


def factor(r: int) -> str:
    return f"(x - {r})" if r > 0 else f"(x + {-r})" if r < 0 else "x"


def par(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


class Quadratic:
    name = "quadratic"
    description = "quadratic equations with integer roots: factor, then check sum and product of roots"
    config_cls = QuadraticConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: QuadraticConfig) -> dict[str, Any]:
        r1 = rng.randint(-cfg.max_root, cfg.max_root)
        r2 = r1
        while r2 == r1:
            r2 = rng.randint(-cfg.max_root, cfg.max_root)
        return {"k": rng.randint(1, cfg.max_leading), "r1": r1, "r2": r2}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        k, r1, r2 = params["k"], params["r1"], params["r2"]
        poly = poly_str({2: Fraction(k), 1: Fraction(-k * (r1 + r2)), 0: Fraction(k * r1 * r2)})
        steps: list[str] = []
        wrong = (
            ((-r1, r2), "sign_flip"),
            ((r1 + 1, r2), "arithmetic_slip"),
            ((r1, r2 - 1), "arithmetic_slip"),
            ((r1, -r2), "sign_flip"),
            ((r1 - 1, r2), "arithmetic_slip"),
        )
        roots = tamper.at(len(steps), (r1, r2), extra=tuple(w for w in wrong if w[0][0] != w[0][1]))
        a, b = roots
        lead = f"{k}*" if k != 1 else ""
        steps.append(f"Factor: {poly} = {lead}{factor(a)}*{factor(b)}")
        s = tamper.at(len(steps), a + b)
        steps.append(f"Sum of the roots: {a} + {par(b)} = {s}")
        p = tamper.at(len(steps), a * b)
        steps.append(f"Product of the roots: {a} * {par(b)} = {p}")
        lo, hi = sorted((a, b))
        return Solution(
            prompt=f"Solve {poly} = 0 for x. List both roots separated by a comma.",
            answer=f"{lo}, {hi}",
            steps=steps,
            meta=identity_meta(polynomial=poly),
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return list_score(item["answer"], response)


TASK = Quadratic()
