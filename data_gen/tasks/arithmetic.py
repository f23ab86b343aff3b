"""Multi-step integer arithmetic with order of operations and parentheses.

Each step rewrites the whole current expression after one operation
(`Multiply: 12 + 7 * 3 = 12 + 21`), so every step is a checkable numeric claim whose
left side is the previous state: an injected error makes exactly that claim false and
later steps stay true relative to the wrong state. Level 0 is 2-3 operands of 1-2 digits
with one-digit factors, small enough for a tiny model trained from scratch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data_gen.answers import numeric_score
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

_LABEL = {"+": "Add", "-": "Subtract", "*": "Multiply"}


@dataclass(frozen=True)
class ArithmeticConfig(TaskConfig):
    task = "integer_arithmetic"
    min_operands: int = knob(2, 4, 2, 12, "fewest numbers in the expression")
    max_operands: int = knob(3, 8, 2, 12, "most numbers in the expression")
    max_digits: int = knob(2, 5, 1, 9, "digits of added/subtracted numbers")
    mul_digits: int = knob(1, 3, 1, 6, "digits of each factor next to a *")
    mul_prob: float = knob(0.35, 0.45, 0.0, 1.0, "chance each operator is *")
    paren_prob: float = knob(0.0, 0.6, 0.0, 1.0, "chance of each parenthesised group")
    max_parens: int = knob(0, 3, 0, 6, "most parenthesised groups")

    def check(self) -> None:
        if self.min_operands > self.max_operands:
            raise ValueError(
                f"{self.task}: knob min_operands={self.min_operands} exceeds max_operands={self.max_operands}"
            )


def render(tokens: list[Any]) -> str:
    """ASCII expression; negative numbers after an operator are parenthesised."""
    out: list[str] = []
    prev: Any = None
    for t in tokens:
        if t.__class__ is int:
            out.append(f"({t})" if t < 0 and prev is not None and prev != "(" else str(t))
        elif t == "(" or t == ")":
            out.append(t)
        else:
            out.append(f" {t} ")
        prev = t
    return "".join(out)


def _randint(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform in [lo, hi]; rng.random() based (randint is a large share of this family's per-item cost)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _dropped_carry(a: int, b: int) -> int | None:
    """a + b with the lowest carry forgotten (None when the addition has no carry)."""
    if a < 0 or b < 0:
        return None
    place = 1
    while a // place or b // place:
        if (a // place) % 10 + (b // place) % 10 >= 10:
            return a + b - 10 * place
        place *= 10
    return None


class IntegerArithmetic:
    name = "integer_arithmetic"
    description = "multi-step integer arithmetic: + - * with order of operations and parentheses"
    config_cls = ArithmeticConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: ArithmeticConfig) -> dict[str, Any]:
        r = rng.random
        n = _randint(rng, cfg.min_operands, cfg.max_operands)
        ops = ["*" if r() < cfg.mul_prob else ("+" if r() < 0.5 else "-") for _ in range(n - 1)]
        nums = []
        for i in range(n):
            near_mul = (i > 0 and ops[i - 1] == "*") or (i < n - 1 and ops[i] == "*")
            digits = _randint(rng, 1, cfg.mul_digits if near_mul else cfg.max_digits)
            nums.append(_randint(rng, 1 if digits == 1 else 10 ** (digits - 1), 10**digits - 1))
        groups: list[tuple[int, int]] = []
        for _ in range(cfg.max_parens):
            if n < 3 or rng.random() >= cfg.paren_prob:
                continue
            i = rng.randint(0, n - 2)
            j = rng.randint(i + 1, n - 1)
            if (i, j) == (0, n - 1) or (i, j) in groups:
                continue
            if all(j < a or i > b or (a <= i and j <= b) or (i <= a and b <= j) for a, b in groups):
                groups.append((i, j))
        tokens: list[Any] = [nums[0]]
        for op, num in zip(ops, nums[1:]):
            tokens += (op, num)
        if groups:
            tokens = []
            for i, num in enumerate(nums):
                tokens.extend("(" for a, _ in groups if a == i)
                tokens.append(num)
                tokens.extend(")" for _, b in groups if b == i)
                if i < n - 1:
                    tokens.append(ops[i])
        return {"tokens": tokens}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        tokens = list(params["tokens"])
        expression = current = render(tokens)
        steps: list[str] = []
        while len(tokens) > 1:
            if ")" in tokens:
                r = tokens.index(")")
                lo = r - 1 - tokens[r - 1 :: -1].index("(")
                lo, hi = lo + 1, r
            else:
                lo, hi = 0, len(tokens)
            window = tokens[lo:hi]
            k = lo + (window.index("*") if "*" in window else 1)
            a, op, b = tokens[k - 1], tokens[k], tokens[k + 1]
            if op == "*":
                value = tamper.at(len(steps), a * b, swapped=None, extra=((a * (b + 1), "wrong_product"),))
            elif op == "+":
                carry = _dropped_carry(a, b)
                value = tamper.at(
                    len(steps), a + b, extra=((carry, "dropped_carry"),) if carry is not None else ()
                )
            else:
                value = tamper.at(len(steps), a - b, swapped=b - a)
            before = current
            tokens[k - 1 : k + 2] = [value]
            if k - 2 >= 0 and tokens[k - 2] == "(" and k < len(tokens) and tokens[k] == ")":
                del tokens[k], tokens[k - 2]
            current = render(tokens)
            steps.append(f"{_LABEL[op]}: {before} = {current}")
        answer = str(tokens[0])
        return Solution(
            prompt=f"Compute {expression}.",
            answer=answer,
            steps=steps,
            meta={"expression": expression, "step_check": "equal"},
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response)


TASK = IntegerArithmetic()
