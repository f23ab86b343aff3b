"""Derivatives of polynomials (power rule) and, at higher levels, of (a*x + b)^n (chain rule).

Each term's step writes the rule applied as an expression equal to the result, e.g.
`Derivative of 3*x^2: 2 * 3*x^(2 - 1) = 6*x`, an identity in x. The last step adds the
term derivatives. Errors: forgetting to lower the power, a coefficient slip, a sign flip.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import expression_score
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, identity_meta, knob
from data_gen.poly import coef_text, mono, pcoef, poly_str, power


@dataclass(frozen=True)
class DerivativeConfig(TaskConfig):
    task = "derivative"
    terms: int = knob(2, 4, 1, 8, "terms in the function")
    max_power: int = knob(3, 6, 1, 12, "largest power")
    max_coef: int = knob(5, 12, 1, 100, "largest |coefficient|")
    chain_prob: float = knob(0.0, 0.5, 0.0, 1.0, "chance one term is (a*x + b)^n (chain rule)")


def _lin(a: int, b: int) -> str:
    return poly_str({1: Fraction(a), 0: Fraction(b)})


class Derivative:
    name = "derivative"
    description = "derivatives of polynomials (power rule) and powers of linear terms (chain rule)"
    config_cls = DerivativeConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: DerivativeConfig) -> dict[str, Any]:
        powers = rng.sample(range(1, cfg.max_power + 1), min(cfg.terms, cfg.max_power))
        nz = [v for v in range(-cfg.max_coef, cfg.max_coef + 1) if v]
        terms = [(rng.choice(nz), p) for p in sorted(powers, reverse=True)]
        chain = None
        if rng.random() < cfg.chain_prob:
            chain = (rng.choice((1, 2, 3)), rng.choice(nz), rng.randint(2, 4))
        return {"terms": terms, "const": rng.randint(-9, 9), "chain": chain}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        terms, const, chain = params["terms"], params["const"], params["chain"]
        parts_f = [mono(c, e) for c, e in terms]
        steps: list[str] = []
        parts_d: list[str] = []
        for c, e in terms:
            wrong = (
                ((c * e, e), "power_not_lowered"),
                ((c * e + 1, e - 1), "arithmetic_slip"),
                ((-c * e, e - 1), "sign_flip"),
            )
            dc, de = tamper.at(len(steps), (c * e, e - 1), extra=wrong)
            steps.append(f"Derivative of {mono(c, e)}: {e} * {pcoef(c)}*x^({e} - 1) = {mono(dc, de)}")
            parts_d.append(mono(dc, de))
        if chain:
            a, b, n = chain
            inner = _lin(a, b)
            parts_f.append(f"({inner})^{n}")
            k = tamper.at(len(steps), n * a, extra=((n, "forgot_inner_derivative"),))
            steps.append(
                f"Derivative of ({inner})^{n}: {n} * ({inner})^({n} - 1) * {a} = {coef_text(k)}*{power(f'({inner})', n - 1)}"
            )
            parts_d.append(f"{coef_text(k)}*{power(f'({inner})', n - 1)}")
        f_txt = " + ".join(parts_f).replace("+ -", "- ") + (
            f" + {const}" if const > 0 else f" - {-const}" if const else ""
        )
        total = " + ".join(f"({p})" for p in parts_d) if len(parts_d) > 1 else parts_d[0]
        if len(parts_d) > 1:
            drops = tuple(
                (tuple(parts_d[:i] + parts_d[i + 1 :]), "dropped_term") for i in range(len(parts_d))
            )
            kept = tamper.at(len(steps), tuple(parts_d), extra=drops)
            answer = " + ".join(kept).replace("+ -", "- ")
            steps.append(f"Add the term derivatives: {total} = {answer}")
        else:
            answer = parts_d[0]
        return Solution(
            f"Find the derivative of f(x) = {f_txt} with respect to x.",
            answer,
            steps,
            identity_meta(function=f_txt),
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return expression_score(item["answer"], response)


TASK = Derivative()
