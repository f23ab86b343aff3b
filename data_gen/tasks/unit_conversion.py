"""Physical unit conversion through a base unit (length, mass, volume, time, speed) and temperature.

Exact conversion factors (1 mile = 1609.344 m, 1 lb = 0.45359237 kg, ...), so every step is
an exact product or quotient up to the shown rounding (`meta["abs_tol"]`); the answer is
rounded to the 2 decimal places the prompt asks for.

`whole=1` draws conversions by integer factors instead (WHOLE_FACTORS: km->m, h->min,
ft->in, ...): one step up or down a factor, or two steps along a chain (h->min->s), with
whole-number values throughout (`abs_tol` 0). `whole=2` is the smallest level (SMALL_FACTORS:
one-digit factors such as weeks->days, yards->feet, gallons->quarts): a one-digit count
times its factor, or a mixed quantity (3 yards and 2 feet) as that product plus a one-digit
remainder, so every step is arithmetic the demo's general model already does.
The default (`whole=0`) is unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import fmt_decimal, numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

STEP_DECIMALS = 6
# (larger unit, smaller unit, how many smaller units make one larger), chained where one's small is the next's large
WHOLE_FACTORS = (
    ("kilometres", "metres", 1000),
    ("metres", "centimetres", 100),
    ("centimetres", "millimetres", 10),
    ("kilograms", "grams", 1000),
    ("litres", "millilitres", 1000),
    ("weeks", "days", 7),
    ("days", "hours", 24),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("yards", "feet", 3),
    ("feet", "inches", 12),
)
WHOLE_KINDS = ("to_smaller", "to_larger", "two_steps")
SMALL_FACTORS = (
    ("weeks", "days", 7),
    ("fortnights", "weeks", 2),
    ("yards", "feet", 3),
    ("fathoms", "feet", 6),
    ("hands", "inches", 4),
    ("leagues", "miles", 3),
    ("gallons", "quarts", 4),
    ("gallons", "pints", 8),
    ("quarts", "pints", 2),
    ("quarts", "cups", 4),
    ("pints", "cups", 2),
    ("cups", "fluid ounces", 8),
    ("tablespoons", "teaspoons", 3),
    ("bushels", "pecks", 4),
    ("bytes", "bits", 8),
)
SMALL_KINDS = ("scale_small", "mixed_small")
_ONE = {"inches": "inch", "feet": "foot", "fluid ounces": "fluid ounce"}  # other units: drop the "s"
# the question's wording: 3 phrasings of a plain conversion, 2 of a mixed quantity
_SMALL_ASK = (
    "Convert {v} {big} to {small}.",
    "How many {small} are in {v} {big}?",
    "{v} {big} is how many {small}?",
)
_MIXED_ASK = (
    "Convert {v} {big} and {r} {small} to {small}.",
    "How many {small} are in {v} {big} and {r} {small}?",
)
# quantity -> (base unit, {unit: size of one unit in the base unit})
UNITS: dict[str, tuple[str, dict[str, Fraction]]] = {
    "length": (
        "metres",
        {
            "kilometres": Fraction(1000),
            "metres": Fraction(1),
            "centimetres": Fraction(1, 100),
            "miles": Fraction("1609.344"),
            "feet": Fraction("0.3048"),
            "inches": Fraction("0.0254"),
        },
    ),
    "mass": (
        "kilograms",
        {
            "kilograms": Fraction(1),
            "grams": Fraction(1, 1000),
            "pounds": Fraction("0.45359237"),
            "ounces": Fraction("0.028349523125"),
        },
    ),
    "volume": (
        "litres",
        {
            "litres": Fraction(1),
            "millilitres": Fraction(1, 1000),
            "US gallons": Fraction("3.785411784"),
            "cubic metres": Fraction(1000),
        },
    ),
    "time": (
        "seconds",
        {"seconds": Fraction(1), "minutes": Fraction(60), "hours": Fraction(3600), "days": Fraction(86400)},
    ),
}


@dataclass(frozen=True)
class UnitConversionConfig(TaskConfig):
    task = "unit_conversion"
    max_value: int = knob(100, 5000, 1, 1_000_000, "largest quantity to convert")
    value_decimals: int = knob(0, 2, 0, 4, "decimal places of the quantity")
    temperature_prob: float = knob(0.15, 0.2, 0.0, 1.0, "chance of a Celsius/Fahrenheit conversion")
    speed_prob: float = knob(0.15, 0.25, 0.0, 1.0, "chance of a km/h <-> m/s conversion")
    whole: int = knob(
        0,
        0,
        0,
        2,
        "1: integer-factor conversions with whole-number steps; 2: one-digit factors (set explicitly)",
    )


class UnitConversion:
    name = "unit_conversion"
    description = "unit conversion through a base unit (length, mass, volume, time), speed and temperature"
    config_cls = UnitConversionConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: UnitConversionConfig) -> dict[str, Any]:
        if cfg.whole == 2:
            kind = rng.choice(SMALL_KINDS)
            first = rng.randrange(len(SMALL_FACTORS))
            asks = _SMALL_ASK if kind == "scale_small" else _MIXED_ASK
            return {
                "kind": kind,
                "value": rng.randint(1, 9),
                "rest": rng.randint(1, max(1, SMALL_FACTORS[first][2] - 1)),
                "first": first,
                "ask": rng.randrange(len(asks)),
            }
        if cfg.whole:
            kind = rng.choice(WHOLE_KINDS)
            chains = [
                i for i in range(len(WHOLE_FACTORS) - 1) if WHOLE_FACTORS[i][1] == WHOLE_FACTORS[i + 1][0]
            ]
            first = rng.choice(chains) if kind == "two_steps" else rng.randrange(len(WHOLE_FACTORS))
            return {"kind": kind, "value": rng.randint(1, min(40, cfg.max_value)), "first": first}
        scale = 10**cfg.value_decimals
        value = Fraction(rng.randint(1, cfg.max_value * scale), scale)
        u = rng.random()
        if u < cfg.temperature_prob:
            return {"kind": "temperature", "value": value - 40, "to_f": rng.random() < 0.5}
        if u < cfg.temperature_prob + cfg.speed_prob:
            return {"kind": "speed", "value": value, "to_ms": rng.random() < 0.5}
        quantity = rng.choice(sorted(UNITS))
        sizes = UNITS[quantity][1]
        pairs = [
            (a, b)
            for a in sorted(sizes)
            for b in sorted(sizes)
            if a != b and 1 / 2000 <= sizes[a] / sizes[b] <= 2000
        ]
        a, b = rng.choice(pairs)  # no conversions whose answer rounds to 0.00 or has 9 digits
        return {"kind": quantity, "value": value, "from": a, "to": b}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        if params["kind"] in WHOLE_KINDS:
            return _solve_whole(params, Chain(tamper))
        if params["kind"] in SMALL_KINDS:
            return _solve_small(params, Chain(tamper))
        kind, v = params["kind"], params["value"]
        c = Chain(tamper, decimals=STEP_DECIMALS)
        tail = " Round to 2 decimal places."
        if kind == "temperature":
            if params["to_f"]:
                prompt = f"Convert {c.t(v)} degrees Celsius to degrees Fahrenheit.{tail}"
                m = c.calc("Multiply by 9/5", f"{c.t(v)} * 9 / 5", v * Fraction(9, 5))
                ans = c.calc("Add 32", f"{c.t(m)} + 32", m + 32)
            else:
                prompt = f"Convert {c.t(v)} degrees Fahrenheit to degrees Celsius.{tail}"
                d = c.calc("Subtract 32", f"{c.t(v)} - 32", v - 32, swapped=32 - v)
                ans = c.calc("Multiply by 5/9", f"{c.t(d)} * 5 / 9", d * Fraction(5, 9))
        elif kind == "speed":
            if params["to_ms"]:
                prompt = f"Convert {show(v)} km/h to m/s.{tail}"
                m = c.calc("Kilometres to metres per hour", f"{show(v)} * 1000", v * 1000)
                ans = c.calc("Per second", f"{c.t(m)} / 3600", m / 3600, swapped=Fraction(3600) / m)
            else:
                prompt = f"Convert {show(v)} m/s to km/h.{tail}"
                m = c.calc("Metres per hour", f"{show(v)} * 3600", v * 3600)
                ans = c.calc("Kilometres per hour", f"{c.t(m)} / 1000", m / 1000, swapped=Fraction(1000) / m)
        else:
            base, sizes = UNITS[kind]
            a, b = params["from"], params["to"]
            prompt = f"Convert {show(v)} {a} to {b}.{tail}"
            in_base = v if a == base else c.calc(f"To {base}", f"{show(v)} * {show(sizes[a])}", v * sizes[a])
            if b == base:
                ans = in_base
            else:
                ans = c.calc(
                    f"To {b}",
                    f"{c.t(in_base)} / {show(sizes[b])}",
                    in_base / sizes[b],
                    swapped=sizes[b] / in_base,
                )
        meta = {"step_check": "equal", "kind": kind, "abs_tol": float(Fraction(1, 2 * 10**STEP_DECIMALS))}
        return Solution(prompt, fmt_decimal(ans, 2), c.steps, meta)

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response, Fraction(1, 100))


def _solve_whole(params: dict[str, Any], c: Chain) -> Solution:
    """Multiply down to a smaller unit, divide up to a larger one (a whole multiple), or two steps down."""
    kind, v, i = params["kind"], params["value"], params["first"]
    big, small, f = WHOLE_FACTORS[i]
    if kind == "to_smaller":
        prompt = f"Convert {v} {big} to {small}."
        ans = c.calc(f"To {small}", f"{v} * {f}", v * f)
    elif kind == "to_larger":
        prompt = f"Convert {v * f} {small} to {big}."
        ans = c.calc(f"To {big}", f"{v * f} / {f}", v, swapped=Fraction(f, v * f))
    else:
        _, smaller, g = WHOLE_FACTORS[i + 1]
        prompt = f"Convert {v} {big} to {smaller}."
        mid = c.calc(f"To {small}", f"{v} * {f}", v * f)
        ans = c.calc(f"To {smaller}", f"{c.t(mid)} * {g}", mid * g)
    assert ans.denominator == 1 or c.tamper.target is not None, (params, ans)  # gold: whole numbers
    meta = {"step_check": "equal", "kind": kind, "abs_tol": 0.0}
    return Solution(prompt, show(ans), c.steps, meta)


def _unit(n: int, unit: str) -> str:
    """The unit's name after the count n: singular for one."""
    return unit if n != 1 else _ONE.get(unit, unit[:-1])


def _solve_small(params: dict[str, Any], c: Chain) -> Solution:
    """A one-digit count times a one-digit factor, plus a one-digit remainder for a mixed quantity."""
    kind, v, r = params["kind"], params["value"], params["rest"]
    big, small, f = SMALL_FACTORS[params["first"]]
    if kind == "scale_small":
        prompt = _SMALL_ASK[params["ask"]].format(v=v, big=_unit(v, big), small=small)
        ans = c.calc(f"To {small}", f"{v} * {f}", v * f)
    else:
        ask = _MIXED_ASK[params["ask"]].format(v=v, big=_unit(v, big), small=small, r=r)
        prompt = ask.replace(f" {r} {small}", f" {r} {_unit(r, small)}") if r == 1 else ask
        part = c.calc(f"{big.capitalize()} to {small}", f"{v} * {f}", v * f)
        ans = c.calc("Total", f"{c.t(part)} + {r}", part + r)
    meta = {"step_check": "equal", "kind": kind, "abs_tol": 0.0}
    return Solution(prompt, show(ans), c.steps, meta)


TASK = UnitConversion()
