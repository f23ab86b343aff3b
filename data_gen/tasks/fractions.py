"""Fractions and decimals: + - * / on two or more fractions (or terminating decimals).

Fractions are brought to a common denominator in a visible step before adding, so each
step is a small exact claim; the answer is a reduced fraction (or an exact decimal).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import numeric_score
from data_gen.chain import Chain, show, term
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

_OPS = {
    "+": ("Add", lambda a, b: a + b),
    "-": ("Subtract", lambda a, b: a - b),
    "*": ("Multiply", lambda a, b: a * b),
    "/": ("Divide", lambda a, b: a / b),
}


@dataclass(frozen=True)
class FractionsConfig(TaskConfig):
    task = "fractions"
    terms: int = knob(2, 4, 2, 6, "numbers in the expression")
    max_denominator: int = knob(6, 20, 2, 100, "largest denominator")
    decimal_prob: float = knob(0.25, 0.4, 0.0, 1.0, "chance the problem uses decimals instead of fractions")
    decimal_places: int = knob(1, 2, 1, 3, "places of each decimal operand")


def _frac_text(v: Fraction) -> str:
    return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)


class Fractions:
    name = "fractions"
    description = "fraction and decimal arithmetic with common denominators, left to right"
    config_cls = FractionsConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: FractionsConfig) -> dict[str, Any]:
        decimal = rng.random() < cfg.decimal_prob
        nums, ops = [], []
        for i in range(cfg.terms):
            if decimal:
                scale = 10**cfg.decimal_places
                nums.append(Fraction(rng.randint(1, 20 * scale - 1), scale))
            else:
                den = rng.randint(2, cfg.max_denominator)
                nums.append(Fraction(rng.randint(1, 2 * den - 1), den))
            if i:
                ops.append(rng.choice("+-*" if decimal else "+-*/"))
        return {"nums": nums, "ops": ops, "decimal": decimal}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        nums, ops, decimal = params["nums"], params["ops"], params["decimal"]
        shown = show if decimal else _frac_text
        expression, prev = shown(nums[0]), None
        for op, n in zip(ops, nums[1:]):  # parenthesise so left-to-right is also the conventional order
            if op in "*/" and prev in ("+", "-"):
                expression = f"({expression})"
            b_txt = f"({shown(n)})" if op == "/" and "/" in shown(n) else shown(n)
            expression, prev = f"{expression} {op} {b_txt}", op
        c = Chain(tamper, fraction=not decimal)
        acc = nums[0]
        for op, b in zip(ops, nums[1:]):
            label, fn = _OPS[op]
            a_txt = term(acc) if decimal else (f"({_frac_text(acc)})" if acc < 0 else _frac_text(acc))
            b_txt = show(b) if decimal else _frac_text(b)
            if op == "/" and "/" in b_txt:
                b_txt = f"({b_txt})"
            if not decimal and op in "+-" and acc.denominator != b.denominator:
                lcd = acc.denominator * b.denominator // math.gcd(acc.denominator, b.denominator)
                a_num = int(tamper.at(len(c.steps), int(acc * lcd), avoid=(0,)))
                b_num = int(b * lcd)
                a_new = f"{a_num}/{lcd}" if a_num >= 0 else f"({a_num})/{lcd}"
                c.steps.append(f"Common denominator: {a_txt} {op} {b_txt} = {a_new} {op} {b_num}/{lcd}")
                acc = c.calc(
                    label,
                    f"{a_new} {op} {b_num}/{lcd}",
                    fn(Fraction(a_num, lcd), b),
                    swapped=fn(b, Fraction(a_num, lcd)) if op == "-" else None,
                )
            else:
                acc = c.calc(
                    label,
                    f"{a_txt} {op} {b_txt}",
                    fn(acc, b),
                    swapped=fn(b, acc) if op == "-" or (op == "/" and acc) else None,
                )
        answer = show(acc) if decimal else _frac_text(acc)
        prompt = f"Compute {expression}." + ("" if decimal else " Give the answer as a reduced fraction.")
        return Solution(prompt, answer, c.steps, {"expression": expression, "step_check": "equal"})

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response)


TASK = Fractions()
