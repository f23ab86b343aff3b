"""Antiderivatives of polynomials, checked by differentiating.

Term steps apply the reverse power rule (`Integrate 6*x^2: 6 * x^(2 + 1) / (2 + 1) = 2*x^3`,
an identity in x); the last step differentiates the result back to the integrand. The
scorer accepts any antiderivative: it differentiates the response and compares.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import extract_answer, sympy_expr
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, identity_meta, knob
from data_gen.poly import mono, pcoef, poly_str


@dataclass(frozen=True)
class IntegralConfig(TaskConfig):
    task = "integral"
    terms: int = knob(2, 4, 1, 8, "terms in the integrand")
    max_power: int = knob(2, 5, 0, 12, "largest power in the integrand")
    max_coef: int = knob(4, 10, 1, 100, "largest |coefficient| before scaling")
    fraction_prob: float = knob(
        0.0, 0.5, 0.0, 1.0, "chance a term's antiderivative has a fractional coefficient"
    )


class Integral:
    name = "integral"
    description = "antiderivatives of polynomials (reverse power rule), checked by differentiating"
    config_cls = IntegralConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: IntegralConfig) -> dict[str, Any]:
        powers = rng.sample(range(0, cfg.max_power + 1), min(cfg.terms, cfg.max_power + 1))
        nz = [v for v in range(-cfg.max_coef, cfg.max_coef + 1) if v]
        terms = []
        for e in sorted(powers, reverse=True):
            c = rng.choice(nz)
            terms.append((c if rng.random() < cfg.fraction_prob else c * (e + 1), e))
        return {"terms": terms}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        terms = params["terms"]
        f_txt = poly_str([(Fraction(c), e) for c, e in terms])
        steps: list[str] = []
        anti: list[tuple[Fraction, int]] = []
        for c, e in terms:
            good = (Fraction(c, e + 1), e + 1)
            wrong = (
                ((Fraction(c), e + 1), "forgot_division"),
                ((Fraction(c, e + 1), e), "power_not_raised"),
                ((-good[0], e + 1), "sign_flip"),
            )
            ac, ae = tamper.at(len(steps), good, extra=wrong)
            steps.append(f"Integrate {mono(c, e)}: {c} * x^({e} + 1) / ({e} + 1) = {mono(ac, ae)}")
            anti.append((ac, ae))
        answer = poly_str(anti)
        back = [(ac * ae, ae - 1) for ac, ae in anti]
        back = tamper.at(
            len(steps), tuple(back), extra=((tuple((c, e + 1) for c, e in back), "power_not_lowered"),)
        )
        rule = " + ".join(f"{ae} * {pcoef(ac)}*x^({ae} - 1)" for ac, ae in anti)
        steps.append(f"Check by differentiating: {rule} = {poly_str(list(back))}")
        return Solution(
            f"Find an antiderivative of f(x) = {f_txt} (omit the constant of integration).",
            answer,
            steps,
            identity_meta(integrand=f_txt),
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        from sympy import Symbol, diff, expand

        got = sympy_expr(extract_answer(response).split("=")[-1])
        want = sympy_expr(item["meta"]["integrand"])
        if got is None or want is None:
            return 0.0
        try:
            return 1.0 if expand(diff(got, Symbol("x")) - want) == 0 else 0.0
        except Exception:  # noqa: BLE001
            return 0.0


TASK = Integral()
