"""The tests' own per-step checker: every step is `[words:] lhs = rhs [= ...]`, checked with sympy.

Independent of the project's step verifier on purpose: each side is parsed with sympy,
the item's `meta["variables"]` are substituted, and neighbouring sides must be equal
(exactly, or within `meta["abs_tol"]` for rounded decimals).
"""

from __future__ import annotations

from functools import lru_cache

import sympy
from sympy.parsing.sympy_parser import convert_xor, parse_expr, rationalize, standard_transformations

X, Y = sympy.symbols("x y")


@lru_cache(maxsize=100_000)
def _parse(text: str):
    return parse_expr(
        text,
        local_dict={"x": X, "y": Y},
        transformations=standard_transformations + (convert_xor, rationalize),
    )


def claim_sides(step: str) -> list[str]:
    body = step.split(":", 1)[1] if ":" in step else step
    sides = [s.strip() for s in body.split("=")]
    assert len(sides) >= 2 and all(sides), f"step has no lhs = rhs claim: {step!r}"
    return sides


def step_holds(step: str, meta: dict) -> bool:
    """Holds after substituting meta["variables"]; identity steps must also hold symbolically."""
    if meta.get("step_check") == "identity" and not _holds(step, {**meta, "variables": {}}):
        return False
    return _holds(step, meta)


def _holds(step: str, meta: dict) -> bool:
    subs = {sympy.Symbol(k): sympy.Rational(v) for k, v in (meta.get("variables") or {}).items()}
    tol = sympy.Rational(str(meta.get("abs_tol", 0)))
    values = [_parse(s).subs(subs) if subs else _parse(s) for s in claim_sides(step)]
    for a, b in zip(values, values[1:]):
        diff = sympy.expand(a - b)
        if tol == 0:
            if diff != 0:
                return False
        elif not (diff.is_number and abs(diff) <= tol):
            return False
    return True


def first_false_step(steps: list[str], meta: dict) -> int:
    for i, step in enumerate(steps):
        if not step_holds(step, meta):
            return i
    return -1
