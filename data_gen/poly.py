"""Polynomials in x as {exponent: coefficient} dicts, printed as ASCII math sympy parses."""

from __future__ import annotations

from fractions import Fraction

Poly = dict[int, Fraction]


def coef_text(c: Fraction) -> str:
    c = Fraction(c)
    return str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def mono(c: Fraction | int, e: int) -> str:
    """One term without its sign handling: 3*x^2, x, -x, 5, 1/2*x."""
    c = Fraction(c)
    if e == 0:
        return coef_text(c)
    xe = "x" if e == 1 else f"x^{e}"
    if c == 1:
        return xe
    if c == -1:
        return f"-{xe}"
    return f"{coef_text(c)}*{xe}"


def poly_str(p: Poly | list[tuple[Fraction, int]], keep_zero_terms: bool = False) -> str:
    """Highest power first for a dict; a list of (coef, exp) terms keeps its order (unsimplified sums)."""
    terms = sorted(((c, e) for e, c in p.items()), key=lambda t: -t[1]) if isinstance(p, dict) else list(p)
    terms = [(Fraction(c), e) for c, e in terms if c != 0 or keep_zero_terms]
    if not terms:
        return "0"
    out = mono(*terms[0])
    for c, e in terms[1:]:
        out += f" - {mono(-c, e)}" if c < 0 else f" + {mono(c, e)}"
    return out


def add(*ps: Poly) -> Poly:
    out: Poly = {}
    for p in ps:
        for e, c in p.items():
            out[e] = out.get(e, Fraction(0)) + c
    return {e: c for e, c in out.items() if c != 0}


def mul(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for e1, c1 in p.items():
        for e2, c2 in q.items():
            out[e1 + e2] = out.get(e1 + e2, Fraction(0)) + c1 * c2
    return {e: c for e, c in out.items() if c != 0}


def scale(p: Poly, k: Fraction | int) -> Poly:
    return {e: c * k for e, c in p.items() if c * k != 0}


def pcoef(c: Fraction | int) -> str:
    """A coefficient inside a product: parenthesised when negative or a fraction."""
    t = coef_text(Fraction(c))
    return f"({t})" if t.startswith("-") or "/" in t else t


def power(base: str, n: int) -> str:
    return base if n == 1 else f"{base}^{n}"
