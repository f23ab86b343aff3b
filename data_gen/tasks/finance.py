"""Finance: simple and compound interest, loan amortization payment, percentage change, NPV.

Money answers are rounded to cents, as the prompt says. Intermediate values are shown
to 10 decimal places (so rounding never moves the cents); each step's claim holds within
half a unit of the 10th place, recorded as `meta["abs_tol"]` for step checkers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import fmt_decimal, numeric_score
from data_gen.chain import Chain
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

KINDS = ("simple_interest", "compound_interest", "amortization", "percent_change", "npv")
STEP_DECIMALS = 10
_PERIODS = {1: "yearly", 4: "quarterly", 12: "monthly"}


@dataclass(frozen=True)
class FinanceConfig(TaskConfig):
    task = "finance"
    max_principal: int = knob(10_000, 500_000, 100, 10_000_000, "largest principal or cash flow")
    max_rate: int = knob(10, 15, 1, 50, "largest annual rate in percent")
    max_years: int = knob(5, 30, 1, 50, "longest term in years")
    max_flows: int = knob(3, 6, 1, 10, "most yearly cash flows in an NPV problem")


class Finance:
    name = "finance"
    description = "finance: simple/compound interest, amortization payment, percentage change, NPV"
    config_cls = FinanceConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: FinanceConfig) -> dict[str, Any]:
        p = rng.randint(1, cfg.max_principal // 100) * 100
        return {
            "kind": rng.choice(KINDS),
            "p": p,
            "rate": Fraction(rng.randint(2, 4 * cfg.max_rate), 4),  # quarter-percent steps
            "years": rng.randint(1, cfg.max_years),
            "per_year": rng.choice((1, 4, 12)),
            "new": rng.randint(1, cfg.max_principal // 100) * 100 + rng.randint(0, 99),
            "flows": [
                rng.randint(1, max(1, cfg.max_principal // 400)) * 100
                for _ in range(rng.randint(1, cfg.max_flows))
            ],
        }

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        kind, p, rate, years = params["kind"], params["p"], params["rate"], params["years"]
        c = Chain(tamper, decimals=STEP_DECIMALS)
        r = c.t(rate)
        cents = " Round to the nearest cent."
        if kind == "simple_interest":
            prompt = f"What is the total amount after {years} years on {p} dollars at {r}% simple annual interest?{cents}"
            i = c.calc("Interest", f"{p} * {r} / 100 * {years}", p * rate / 100 * years)
            ans = c.calc("Total", f"{p} + {c.t(i)}", p + i)
        elif kind == "compound_interest":
            m = params["per_year"]
            prompt = (
                f"{p} dollars is invested at {r}% annual interest compounded {_PERIODS[m]} for {years} years. "
                f"What is the final amount?{cents}"
            )
            per = c.calc("Rate per period", f"{r} / 100 / {m}", rate / 100 / m)
            n = c.calc("Number of periods", f"{m} * {years}", m * years)
            g = c.calc(
                "Growth factor",
                f"(1 + {c.t(per)})^{c.t(n)}",
                (1 + per) ** int(n) if n.denominator == 1 else 0,
            )
            ans = c.calc("Final amount", f"{p} * {c.t(g)}", p * g)
        elif kind == "amortization":
            prompt = (
                f"A loan of {p} dollars at {r}% annual interest is repaid in equal monthly payments over "
                f"{years} years. What is the monthly payment?{cents}"
            )
            i = c.calc("Monthly rate", f"{r} / 100 / 12", rate / 1200)
            n = c.calc("Number of payments", f"12 * {years}", 12 * years)
            g = c.calc(
                "Growth factor", f"(1 + {c.t(i)})^{c.t(n)}", (1 + i) ** int(n) if n.denominator == 1 else 0
            )
            ans = c.calc(
                "Payment", f"{p} * {c.t(i)} * {c.t(g)} / ({c.t(g)} - 1)", p * i * g / (g - 1) if g != 1 else 0
            )
        elif kind == "percent_change":
            new = params["new"]
            prompt = (
                f"A stock's price moves from {p} dollars to {new} dollars. What is the percentage change? "
                "Round to 2 decimal places."
            )
            d = c.calc("Change", f"{new} - {p}", new - p, swapped=p - new)
            ans = c.calc("Percentage change", f"{c.t(d)} / {p} * 100", d / p * 100)
        else:
            flows = params["flows"]
            listed = ", ".join(f"{f} dollars at the end of year {t + 1}" for t, f in enumerate(flows))
            prompt = (
                f"A project costs {p} dollars today and returns {listed}. At a discount rate of {r}% per year, "
                f"what is its net present value?{cents}"
            )
            pvs = []
            for t, f in enumerate(flows, 1):
                pvs.append(
                    c.calc(
                        f"Present value of year {t}", f"{f} / (1 + {r} / 100)^{t}", f / (1 + rate / 100) ** t
                    )
                )
            terms = " + ".join(c.t(v) for v in pvs)
            ans = c.calc("NPV", f"{terms} - {p}", sum(pvs) - p)
        return Solution(
            prompt,
            fmt_decimal(ans, 2),
            c.steps,
            {"step_check": "equal", "kind": kind, "abs_tol": float(Fraction(1, 2 * 10**STEP_DECIMALS))},
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response, Fraction(1, 100))


TASK = Finance()
