"""Evaluate parsed expressions exactly and decide whether two sides of a claim agree.

Purely numeric sides (the bulk of arithmetic traces) are evaluated with `fractions.Fraction`,
exact and about a hundred times faster than building sympy objects; anything with a variable,
a function or an irrational power goes through sympy. A side written as a rounded decimal
("10/3 = 3.33") is accepted within half a unit of its last written digit, and ``≈`` also
accepts rounding to a whole number; nothing else is approximate.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import sympy

from rewards.steps.parse import MAX_EXPONENT, Node

MAX_BITS = 20_000  # refuse exact results larger than this (a model can write 9^9^9)


class Unverifiable(Exception):
    """The expression is too large, or needs something the checker does not know."""


class Undefined(Exception):
    """Division by zero or a similar undefined operation: the claim is wrong as written."""


def to_fraction(node: Node) -> Fraction | None:
    """Exact rational value, or None when the node has variables, functions or irrational powers."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind in ("var", "fn"):
        return None
    if kind == "neg":
        v = to_fraction(node[1])
        return None if v is None else -v
    a, b = to_fraction(node[1]), to_fraction(node[2])
    if a is None or b is None:
        return None
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return _check_size(a * b)
    if kind == "/":
        if b == 0:
            raise Undefined("division by zero")
        return a / b
    # power
    if b.denominator != 1:
        return None
    e = b.numerator
    if abs(e) > MAX_EXPONENT:
        raise Unverifiable("exponent too large")
    if a == 0 and e < 0:
        raise Undefined("zero to a negative power")
    bits = max(a.numerator.bit_length(), a.denominator.bit_length()) * abs(e)
    if bits > MAX_BITS:
        raise Unverifiable("result too large")
    return a**e


def _check_size(v: Fraction) -> Fraction:
    if max(v.numerator.bit_length(), v.denominator.bit_length()) > MAX_BITS:
        raise Unverifiable("result too large")
    return v


_FN = {
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "ln": sympy.log,
    "log": sympy.log,
    "exp": sympy.exp,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
}


def to_sympy(node: Node, values: Mapping[str, Any] | None = None) -> sympy.Expr:
    """A sympy expression; variables in `values` are substituted, others stay symbols."""
    kind = node[0]
    if kind == "num":
        return sympy.Rational(node[1].numerator, node[1].denominator)
    if kind == "var":
        if values and node[1] in values:
            return sympy.sympify(values[node[1]])
        return sympy.Symbol(node[1])
    if kind == "neg":
        return -to_sympy(node[1], values)
    if kind == "fn":
        return _FN[node[1]](to_sympy(node[2], values))
    a, b = to_sympy(node[1], values), to_sympy(node[2], values)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        if b == 0:
            raise Undefined("division by zero")
        return a / b
    if b.is_number and (not b.is_finite or abs(b) > MAX_EXPONENT):
        raise Unverifiable("exponent too large")
    if a.is_number and a.is_zero and b.is_number and b.is_negative:
        raise Undefined("zero to a negative power")
    return a**b


def rounding_tolerance(node: Node, approx: bool) -> Fraction:
    """Half a unit of the last digit written on a bare decimal side (0 when exact is required)."""
    bare = node[1] if node[0] == "neg" else node
    if bare[0] != "num":
        return Fraction(0)
    decimals = bare[2]
    if decimals == 0 and not approx:
        return Fraction(0)
    return Fraction(1, 2 * 10**decimals)


def numbers_agree(a: Fraction, b: Fraction, tol: Fraction) -> bool:
    return a == b or abs(a - b) <= tol


def sympy_agree(a: sympy.Expr, b: sympy.Expr, tol: Fraction) -> bool | None:
    """True/False when decidable, None when sympy cannot tell (free symbols left, or an error)."""
    try:
        diff = sympy.simplify(a - b) if (a.free_symbols or b.free_symbols) else a - b
        if diff.free_symbols:
            return None
        if diff == 0:
            return True
        value = complex(sympy.N(diff, 30))
        if abs(value.imag) > 1e-12:
            return False
        bound = float(tol) if tol else 1e-12 * max(1.0, abs(complex(sympy.N(b, 30))))
        return abs(value.real) <= bound * (1 + 1e-9)
    except (TypeError, ValueError, ZeroDivisionError, AttributeError, RecursionError):
        return None
