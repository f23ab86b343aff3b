"""Finance: simple and compound interest, loan amortization payment, percentage change, NPV.

Money answers are rounded to cents, as the prompt says. Intermediate values are shown
to 10 decimal places (so rounding never moves the cents); each step's claim holds within
half a unit of the 10th place, recorded as `meta["abs_tol"]` for step checkers.

`whole=1` draws whole-currency items instead (WHOLE_KINDS: simple interest, percentage
change, discount, sales tax, equal instalments of a flat-interest loan), one to three steps
whose every value is an integer (`abs_tol` 0): domain wording a small model can learn.
`whole=2` draws the smallest level (SMALL_KINDS: buying several items, change from a
payment, a delivery charge or costs on top, savings, yearly interest): one or two
operations on one-digit amounts, each step a one-digit product, sum or difference as in
the demo's general arithmetic, so a tiny model that does that arithmetic can learn the domain.
The default (`whole=0`) draws exactly the items it always did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import fmt_decimal, numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

KINDS = ("simple_interest", "compound_interest", "amortization", "percent_change", "npv")
GOODS = (
    ("coat", "meal"),
    ("laptop", "haircut"),
    ("bicycle", "taxi ride"),
    ("sofa", "repair"),
    ("phone", "hotel night"),
)
SMALL_KINDS = ("purchase", "change", "purchase_delivery", "profit", "savings", "interest_total")
ITEMS = ("pens", "mugs", "books", "tickets", "shirts", "lamps", "plates", "caps")
WHOLE_KINDS = ("simple_interest_whole", "percent_change_whole", "discount", "sales_tax", "instalments")
STEP_DECIMALS = 10
_PERIODS = {1: "yearly", 4: "quarterly", 12: "monthly"}


@dataclass(frozen=True)
class FinanceConfig(TaskConfig):
    task = "finance"
    max_principal: int = knob(10_000, 500_000, 100, 10_000_000, "largest principal or cash flow")
    max_rate: int = knob(10, 15, 1, 50, "largest annual rate in percent")
    max_years: int = knob(5, 30, 1, 50, "longest term in years")
    max_flows: int = knob(3, 6, 1, 10, "most yearly cash flows in an NPV problem")
    whole: int = knob(
        0, 0, 0, 2, "1: whole-currency kinds with integer steps; 2: one-digit amounts (set explicitly)"
    )


class Finance:
    name = "finance"
    description = "finance: simple/compound interest, amortization payment, percentage change, NPV"
    config_cls = FinanceConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: FinanceConfig) -> dict[str, Any]:
        if cfg.whole == 2:
            return {
                "kind": rng.choice(SMALL_KINDS),
                "a": rng.randint(2, 9),
                "b": rng.randint(1, 9),
                "c": rng.randint(1, 9),
                "thing": rng.randrange(len(ITEMS)),
            }
        if cfg.whole:
            return {
                "kind": rng.choice(WHOLE_KINDS),
                "a": rng.randint(1, 9),
                "b": rng.randint(1, 9),
                "years": rng.randint(1, 3),
                "n": rng.randint(2, 6),
                "up": rng.random() < 0.5,
                "thing": rng.randrange(len(GOODS)),
            }
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
        if params["kind"] in WHOLE_KINDS:
            return _solve_whole(params, Chain(tamper))
        if params["kind"] in SMALL_KINDS:
            return _solve_small(params, Chain(tamper))
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


def _solve_whole(params: dict[str, Any], c: Chain) -> Solution:
    """Whole-currency items: every given number and every step's value is an integer."""
    kind, a, b = params["kind"], params["a"], params["b"]
    if kind == "simple_interest_whole":
        p, years = 100 * a, params["years"]
        prompt = f"How much simple interest do {p} dollars earn in {years} years at {b}% per year?"
        yearly = c.calc("Interest per year", f"{p} * {b} / 100", a * b)
        ans = c.calc("Interest", f"{c.t(yearly)} * {years}", yearly * years)
    elif kind == "percent_change_whole":
        old = 10 * a
        new = old + a * b if params["up"] else old - a * b
        prompt = f"A share price moves from {old} dollars to {new} dollars. What is the percentage change?"
        d = c.calc("Change", f"{new} - {old}", new - old, swapped=old - new)
        ans = c.calc("Percentage change", f"{c.t(d)} / {old} * 100", d * 100 / old)
    elif kind in ("discount", "sales_tax"):
        price, pct = 20 * a, 5 * b
        good, service = GOODS[params["thing"]]
        cut = c.calc("Discount" if kind == "discount" else "Tax", f"{price} * {pct} / 100", a * b)
        if kind == "discount":
            prompt = (
                f"A coat costs {price} dollars and is sold at {pct}% off. What is the sale price in dollars?"
            )
            ans = c.calc("Sale price", f"{price} - {c.t(cut)}", price - cut, swapped=cut - price)
        else:
            prompt = (
                f"A {service} costs {price} dollars before a {pct}% sales tax. What is the total in dollars?"
            )
            ans = c.calc("Total", f"{price} + {c.t(cut)}", price + cut)
    else:
        n, rate = params["n"], 5 * (1 + b % 4)  # 5% to 20% flat
        p = 20 * n * a
        prompt = (
            f"A loan of {p} dollars carries {rate}% flat interest and is repaid in {n} equal monthly "
            "instalments. How many dollars is each instalment?"
        )
        interest = c.calc("Interest", f"{p} * {rate} / 100", Fraction(p * rate, 100))
        total = c.calc("Total to repay", f"{p} + {c.t(interest)}", p + interest)
        ans = c.calc("Each instalment", f"{c.t(total)} / {n}", total / n, swapped=Fraction(n) / total)
    assert ans.denominator == 1 or c.tamper.target is not None, (params, ans)  # gold: whole numbers
    return Solution(prompt, show(ans), c.steps, {"step_check": "equal", "kind": kind, "abs_tol": 0.0})


def _solve_small(params: dict[str, Any], c: Chain) -> Solution:
    """One-digit amounts, one or two steps: a product, then a sum or difference with one digit."""
    kind, a, b, k = params["kind"], params["a"], params["b"], params["c"]
    items = ITEMS[params["thing"]]
    if kind == "purchase":
        prompt = f"{a} {items} cost {_dollars(b)} each. How many dollars do they cost in all?"
        ans = c.calc("Cost", f"{a} * {b}", a * b)
    elif kind == "change":
        price = min(b, a - 1)  # strictly below the payment: some change is due
        prompt = f"One of the {items} costs {_dollars(price)} and you pay {_dollars(a)}. How many dollars of change do you get?"
        ans = c.calc("Change", f"{a} - {price}", a - price, swapped=price - a)
    elif kind == "savings":
        prompt = f"Ann saves {_dollars(b)} a week for {a} weeks. How many dollars has she saved?"
        ans = c.calc("Savings", f"{b} * {a}", a * b)
    elif kind == "purchase_delivery":
        prompt = (
            f"{a} {items} cost {_dollars(b)} each and delivery costs {_dollars(k)}. "
            "How many dollars is the total?"
        )
        cost = c.calc("Cost", f"{a} * {b}", a * b)
        ans = c.calc("Total", f"{c.t(cost)} + {k}", cost + k)
    elif kind == "profit":
        k = min(k, a * b - 1)  # below the revenue: a profit, not a loss
        prompt = (
            f"A stall sells {a} {items} at {_dollars(b)} each and pays {_dollars(k)} for the pitch. "
            "How many dollars of profit does it make?"
        )
        revenue = c.calc("Revenue", f"{a} * {b}", a * b)
        ans = c.calc("Profit", f"{c.t(revenue)} - {k}", revenue - k, swapped=k - revenue)
    else:
        prompt = (
            f"A deposit of {_dollars(k)} earns {_dollars(b)} of interest a year. "
            f"How many dollars is it worth after {a} years?"
        )
        interest = c.calc("Interest", f"{b} * {a}", a * b)
        ans = c.calc("Total", f"{c.t(interest)} + {k}", interest + k)
    return Solution(prompt, show(ans), c.steps, {"step_check": "equal", "kind": kind, "abs_tol": 0.0})


def _dollars(n: int) -> str:
    return f"{n} dollar" if n == 1 else f"{n} dollars"


TASK = Finance()
