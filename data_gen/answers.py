"""Canonical answer strings and the scorers generators share.

Answers are canonical strings: integers ("33", "-4"), reduced fractions ("7/6"), decimals
rounded to the precision the prompt states ("1102.50"), lists ("-2, 3"), assignments
("x = 2, y = -1") or expressions in x ("6*x + 2"). Scorers take a model response, pull
the text inside <answer>...</answer> when present, and compare by value, not by spelling.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(/[+-]?\d+)?$")


def extract_answer(response: str) -> str:
    """The last <answer>...</answer> content, else the whole response, stripped."""
    found = _ANSWER_RE.findall(response)
    text = found[-1] if found else response
    return text.strip()


def parse_number(text: str) -> Fraction | None:
    """'12', '-3.5', '7/6', '1,200', '$12.50', '15%' -> exact Fraction (None if not a number)."""
    t = text.strip().rstrip(".").replace(",", "").replace("$", "").replace(" ", "")
    if t.endswith("%"):
        t = t[:-1]
    if not t or not _NUM_RE.match(t):
        return None
    try:
        num, _, den = t.partition("/")
        value = Fraction(num)
        return value / Fraction(den) if den else value
    except (ValueError, ZeroDivisionError):
        return None


def fmt_number(value: Fraction | int, decimals: int | None = None) -> str:
    """Canonical text: ints as ints, else a reduced fraction, or a fixed-point decimal when `decimals`."""
    v = Fraction(value)
    if decimals is not None:
        return fmt_decimal(v, decimals)
    if v.denominator == 1:
        return str(v.numerator)
    return f"{v.numerator}/{v.denominator}"


def round_fraction(value: Fraction, decimals: int) -> Fraction:
    """The exact value of `fmt_decimal(value, decimals)`."""
    return Fraction(fmt_decimal(value, decimals))


def fmt_decimal(value: Fraction, decimals: int) -> str:
    """Half-up (away from zero) rounding to exactly `decimals` places ("1102.50"), exact at any size."""
    v = Fraction(value)
    scaled = abs(v) * 10**decimals
    units = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    digits = str(units).rjust(decimals + 1, "0")
    text = digits if decimals == 0 else f"{digits[:-decimals]}.{digits[-decimals:]}"
    return f"-{text}" if v < 0 and units else text


def numeric_score(expected: str, response: str, abs_tol: Fraction | float = 0) -> float:
    """1.0 when the response's number equals `expected` (within abs_tol), else 0.0."""
    got = parse_number(extract_answer(response))
    want = parse_number(expected)
    if got is None or want is None:
        return 0.0
    return 1.0 if abs(got - want) <= Fraction(abs_tol) else 0.0


def list_score(expected: str, response: str) -> float:
    """Unordered list of numbers ('-2, 3' == '3, -2'); duplicates count."""
    want = sorted(parse_number(p) for p in expected.split(","))
    parts = [p for p in re.split(r"[,;]|\bor\b|\band\b", extract_answer(response)) if p.strip()]
    got = [parse_number(p.split("=")[-1]) for p in parts]
    if any(g is None for g in got):
        return 0.0
    return 1.0 if sorted(got) == want else 0.0  # type: ignore[type-var]


def assignment_score(expected: str, response: str) -> float:
    """'x = 2, y = -1' in any order; every variable must match."""

    def parse(text: str) -> dict[str, Fraction] | None:
        out: dict[str, Fraction] = {}
        for part in re.split(r"[,;]|\band\b", text):
            if not part.strip():
                continue
            name, eq, val = part.partition("=")
            num = parse_number(val)
            if not eq or num is None:
                return None
            out[name.strip()] = num
        return out

    want, got = parse(expected), parse(extract_answer(response))
    return 1.0 if want is not None and got == want else 0.0


def sympy_expr(text: str) -> Any:
    """Parse ASCII math (^ for powers, implicit multiplication) with sympy; None on failure."""
    from sympy import Symbol
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    t = text.strip().rstrip(".")
    t = re.sub(r"\+\s*C\s*$", "", t)  # integration constant
    try:
        return parse_expr(
            t,
            local_dict={"x": Symbol("x"), "y": Symbol("y"), "n": Symbol("n"), "C": Symbol("C")},
            transformations=standard_transformations + (implicit_multiplication_application, convert_xor),
            evaluate=True,
        )
    except Exception:  # noqa: BLE001 - any parse failure means "not an expression"
        return None


def expression_score(expected: str, response: str) -> float:
    """Symbolic equality of two expressions in x (expanded difference is zero)."""
    from sympy import expand

    want, got = sympy_expr(expected), sympy_expr(extract_answer(response).split("=")[-1])
    if want is None or got is None:
        return 0.0
    try:
        return 1.0 if expand(want - got) == 0 else 0.0
    except Exception:  # noqa: BLE001
        return 0.0
