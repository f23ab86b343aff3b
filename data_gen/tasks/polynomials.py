"""Polynomial expansion of products of linear factors, and differences f(x+1) - f(x).

Every step is an identity in x (`lhs = rhs` for all x). Expansion distributes one factor
at a time (all products shown), then combines like terms; a difference expands f(x+1),
then subtracts f(x). Injected errors drop a term, flip a sign or slip a coefficient.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Any

from data_gen.answers import expression_score
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, identity_meta, knob
from data_gen.poly import Poly, add, poly_str

Terms = tuple[tuple[Fraction, int], ...]


@dataclass(frozen=True)
class PolynomialsConfig(TaskConfig):
    task = "polynomials"
    factors: int = knob(2, 3, 2, 5, "linear factors multiplied in an expansion")
    max_coef: int = knob(5, 9, 1, 100, "largest |coefficient|")
    degree: int = knob(2, 3, 1, 6, "degree of f in a difference problem")
    difference_prob: float = knob(0.4, 0.5, 0.0, 1.0, "chance of a f(x+1) - f(x) problem")


def term_errors(terms: Terms) -> tuple[tuple[Terms, str], ...]:
    """Wrong versions of a term list: one term dropped, sign-flipped, or its coefficient off by one."""
    out = []
    for i, (c, e) in enumerate(terms):
        if c == 0:
            continue
        out.append((terms[:i] + terms[i + 1 :], "dropped_term"))
        out.append((terms[:i] + ((-c, e),) + terms[i + 1 :], "sign_flip"))
        out.append((terms[:i] + ((c + 1, e),) + terms[i + 1 :], "arithmetic_slip"))
    return tuple((t, k) for t, k in out if _poly(t) != _poly(terms))


def _poly(terms: Terms) -> Poly:
    return add(*({e: c} for c, e in terms))


def _terms(p: Poly) -> Terms:
    return tuple((c, e) for e, c in sorted(p.items(), key=lambda t: -t[0]))


class Polynomials:
    name = "polynomials"
    description = "expand products of linear factors; compute f(x+1) - f(x)"
    config_cls = PolynomialsConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: PolynomialsConfig) -> dict[str, Any]:
        nz = [v for v in range(-cfg.max_coef, cfg.max_coef + 1) if v]
        if rng.random() < cfg.difference_prob:
            coefs = [rng.randint(-cfg.max_coef, cfg.max_coef) for _ in range(cfg.degree)] + [rng.choice(nz)]
            return {"mode": "difference", "f": coefs}  # low -> high
        lead = [1, 1, 1, 2, 3, -1]
        return {
            "mode": "expand",
            "factors": [
                (rng.choice(lead[: 3 + min(cfg.max_coef, 3)]), rng.choice(nz)) for _ in range(cfg.factors)
            ],
        }

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        steps: list[str] = []
        if params["mode"] == "expand":
            facs = [{1: Fraction(a), 0: Fraction(b)} for a, b in params["factors"]]
            fac_txt = ["(" + poly_str(f) + ")" for f in facs]
            problem = "*".join(fac_txt)
            acc, acc_txt = facs[0], fac_txt[0]
            for f, ft in zip(facs[1:], fac_txt[1:]):
                raw: Terms = tuple(
                    (c1 * c2, e1 + e2)
                    for e1, c1 in sorted(acc.items(), reverse=True)
                    for e2, c2 in sorted(f.items(), reverse=True)
                )
                raw = tamper.at(len(steps), raw, extra=lambda t=raw: term_errors(t))
                steps.append(f"Distribute: {acc_txt}*{ft} = {poly_str(list(raw))}")
                combined = _terms(_poly(raw))
                combined = tamper.at(len(steps), combined, extra=lambda t=combined: term_errors(t))
                acc = _poly(combined)
                steps.append(f"Combine like terms: {poly_str(list(raw))} = {poly_str(acc)}")
                acc_txt = f"({poly_str(acc)})"
            return Solution(f"Expand {problem}.", poly_str(acc), steps, identity_meta(expression=problem))
        f = {e: Fraction(c) for e, c in enumerate(params["f"]) if c}
        f_txt = poly_str(f)
        shifted_txt = poly_str([(c, e) for e, c in sorted(f.items(), reverse=True)]).replace("x", "(x + 1)")
        shifted = _terms(add(*({k: c * comb(e, k) for k in range(e + 1)} for e, c in f.items())))
        shifted = tamper.at(len(steps), shifted, extra=lambda t=shifted: term_errors(t))
        steps.append(f"Expand f(x + 1): {shifted_txt} = {poly_str(_poly(shifted))}")
        diff = _terms(add(_poly(shifted), {e: -c for e, c in f.items()}))
        diff = tamper.at(len(steps), diff, extra=lambda t=diff: term_errors(t))
        steps.append(f"Subtract f(x): {poly_str(_poly(shifted))} - ({f_txt}) = {poly_str(_poly(diff))}")
        return Solution(
            f"Let f(x) = {f_txt}. Find f(x + 1) - f(x) and simplify.",
            poly_str(_poly(diff)),
            steps,
            identity_meta(expression=f_txt),
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return expression_score(item["answer"], response)


TASK = Polynomials()
