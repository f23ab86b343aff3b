"""A numeric solution written as a chain of named calculations.

Most word-problem-like families (percentages, fractions, finance, dosage, sequences) are
a few calculations whose inputs are given numbers or earlier results. `Chain.calc` writes
one step `Label: <lhs> = <value>`, routes the value through the tamper (error injection)
and returns the value as shown, so later steps are written from what the reader saw.
Values are exact `Fraction`s; with `decimals` set, a non-terminating value is rounded to
that many places (the family states `abs_tol` in meta so a checker allows the rounding).
"""

from __future__ import annotations

from fractions import Fraction

from data_gen.answers import fmt_decimal
from data_gen.core import Tamper

Num = Fraction | int


def show(v: Num, decimals: int | None = None, fraction: bool = False) -> str:
    """Ints as ints; terminating decimals exactly; otherwise a fraction, or rounded when `decimals`."""
    v = Fraction(v)
    if v.denominator == 1:
        return str(v.numerator)
    if fraction:
        return f"{v.numerator}/{v.denominator}"
    d = v.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    places = max(twos, fives)
    if d == 1 and (decimals is None or places <= decimals):
        return fmt_decimal(v, places)
    if decimals is None:
        return f"{v.numerator}/{v.denominator}"
    return fmt_decimal(v, decimals).rstrip("0").rstrip(".")


def term(v: Num, decimals: int | None = None) -> str:
    """`show` for use inside an expression: negatives and fractions parenthesised."""
    text = show(v, decimals)
    return f"({text})" if text.startswith("-") or "/" in text else text


class Chain:
    def __init__(self, tamper: Tamper, decimals: int | None = None, fraction: bool = False) -> None:
        self.tamper = tamper
        self.decimals = decimals
        self.fraction = fraction
        self.steps: list[str] = []

    def calc(
        self,
        label: str,
        lhs: str,
        value: Num,
        swapped: Num | None = None,
        extra: tuple = (),
        avoid: tuple = (0,),
    ) -> Fraction:
        """Record `label: lhs = value` and return the value as displayed.

        An injected wrong value is never 0, so later steps never divide by zero."""
        value = Fraction(value)
        bad_extra = tuple((Fraction(w), k) for w, k in extra)
        if value.denominator > 12 or self.decimals is not None:  # decimal-like: slips the reader would see
            bad_extra += ((value + 1, "arithmetic_slip"), (value * 10, "misplaced_decimal"))
        v = self.tamper.at(
            len(self.steps), value, None if swapped is None else Fraction(swapped), bad_extra, avoid=avoid
        )
        text = show(v, self.decimals, self.fraction)
        self.steps.append(f"{label}: {lhs} = {text}")
        return Fraction(text)

    def t(self, v: Num) -> str:
        return term(v, self.decimals)
