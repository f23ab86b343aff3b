"""Drug dosage: weight-based doses, pound-to-kilogram conversion, and IV drip rates.

The second vertical domain (next to finance). Answers are rounded to the precision the
prompt states; intermediate values are shown to 4 decimal places (`meta["abs_tol"]`).

`whole=1` draws WHOLE_KINDS instead: dose by weight, volume from a stock whose strength
divides the dose, and a daily dose split into equal doses, with whole-number results at
every step (`abs_tol` 0). The default (`whole=0`) draws exactly the items it always did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from data_gen.answers import fmt_decimal, numeric_score
from data_gen.chain import Chain, show
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

KINDS = ("volume", "volume_lb", "daily_split", "drip_rate")
WHOLE_KINDS = ("dose_mg", "volume_whole", "daily_split_whole")
STEP_DECIMALS = 4
DRUGS = ("amoxicillin", "ibuprofen", "paracetamol", "gentamicin", "ceftriaxone", "vancomycin")


@dataclass(frozen=True)
class DosageConfig(TaskConfig):
    task = "dosage"
    max_weight: int = knob(40, 120, 5, 300, "largest body weight in kg")
    max_dose: int = knob(15, 50, 1, 200, "largest dose in mg per kg")
    max_volume: int = knob(500, 2000, 50, 5000, "largest IV volume in mL")
    whole: int = knob(0, 0, 0, 1, "1: weight-based kinds with whole-number steps (set explicitly)")


class Dosage:
    name = "dosage"
    description = "drug dosage by body weight and concentration, lb->kg, divided doses, IV drip rates"
    config_cls = DosageConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: DosageConfig) -> dict[str, Any]:
        if cfg.whole:
            conc = rng.choice((5, 10, 20, 25))
            times = rng.choice((2, 3, 4))
            return {
                "kind": rng.choice(WHOLE_KINDS),
                "drug": rng.choice(DRUGS),
                "dose": rng.randint(1, 9),
                "conc": conc,
                "m": rng.randint(1, min(9, 100 // conc)),
                "times": times,
                "split_weight": times * rng.randint(2, 10),
                "weight": rng.randint(5, min(60, cfg.max_weight)),
            }
        return {
            "kind": rng.choice(KINDS),
            "drug": rng.choice(DRUGS),
            "weight": rng.randint(5, cfg.max_weight),
            "dose": rng.randint(1, cfg.max_dose),
            "conc": rng.choice((10, 20, 25, 40, 50, 100, 125, 250)),
            "per_ml": rng.choice((1, 5)),
            "times": rng.choice((2, 3, 4)),
            "volume": rng.randint(1, cfg.max_volume // 50) * 50,
            "hours": rng.choice((1, 2, 4, 6, 8, 12, 24)),
            "drop_factor": rng.choice((10, 15, 20, 60)),
        }

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        if params["kind"] in WHOLE_KINDS:
            return _solve_whole(params, Chain(tamper))
        k, drug, w, dose = params["kind"], params["drug"], params["weight"], params["dose"]
        c = Chain(tamper, decimals=STEP_DECIMALS)
        conc, per_ml = params["conc"], params["per_ml"]
        stock = f"{conc} mg per {per_ml} mL" if per_ml != 1 else f"{conc} mg/mL"
        if k in ("volume", "volume_lb"):
            if k == "volume_lb":
                lb = Fraction(w * 22, 10)
                who = f"who weighs {c.t(lb)} lb (1 kg = 2.2 lb)"
                kg = c.calc(
                    "Weight in kg", f"{c.t(lb)} / 2.2", lb / Fraction(22, 10), swapped=Fraction(22, 10) / lb
                )
            else:
                who, kg = f"who weighs {w} kg", Fraction(w)
            prompt = (
                f"A patient {who} is prescribed {drug} {dose} mg/kg. The stock is {stock}. "
                "How many mL should be given? Round to 2 decimal places."
            )
            mg = c.calc("Dose in mg", f"{c.t(kg)} * {dose}", kg * dose)
            ml = c.calc(
                "Volume",
                f"{c.t(mg)} / {conc} * {per_ml}",
                mg / conc * per_ml,
                swapped=Fraction(conc) / mg * per_ml if mg else None,
            )
            ans, unit = ml, "mL"
        elif k == "daily_split":
            times = params["times"]
            prompt = (
                f"A patient weighing {w} kg needs {drug} {dose} mg/kg/day, divided into {times} equal doses. "
                "How many mg is each dose? Round to 2 decimal places."
            )
            day = c.calc("Daily dose", f"{w} * {dose}", w * dose)
            ans = c.calc(
                "Each dose",
                f"{c.t(day)} / {times}",
                day / times,
                swapped=Fraction(times) / day if day else None,
            )
            unit = "mg"
        else:
            vol, hours, df = params["volume"], params["hours"], params["drop_factor"]
            prompt = (
                f"Infuse {vol} mL over {hours} hours with a giving set of {df} drops/mL. "
                "What is the drip rate in drops per minute? Round to 2 decimal places."
            )
            mins = c.calc("Minutes", f"{hours} * 60", hours * 60)
            rate = c.calc("mL per minute", f"{vol} / {c.t(mins)}", vol / mins if mins else 0)
            ans = c.calc("Drops per minute", f"{c.t(rate)} * {df}", rate * df)
            unit = "drops/min"
        meta = {
            "step_check": "equal",
            "kind": k,
            "unit": unit,
            "abs_tol": float(Fraction(1, 2 * 10**STEP_DECIMALS)),
        }
        return Solution(prompt, fmt_decimal(ans, 2), c.steps, meta)

    def score(self, item: dict[str, Any], response: str) -> float:
        return numeric_score(item["answer"], response, Fraction(1, 100))


def _solve_whole(params: dict[str, Any], c: Chain) -> Solution:
    """Whole-number dosing: the stock strength divides the dose, the weight divides into the doses."""
    k, drug, dose = params["kind"], params["drug"], params["dose"]
    if k == "dose_mg":
        w = params["weight"]
        prompt = f"A patient who weighs {w} kg is prescribed {drug} {dose} mg/kg. How many mg is the dose?"
        ans, unit = c.calc("Dose in mg", f"{w} * {dose}", w * dose), "mg"
    elif k == "volume_whole":
        conc = params["conc"]
        w = conc * params["m"]
        prompt = (
            f"A patient who weighs {w} kg is prescribed {drug} {dose} mg/kg. The stock is {conc} mg/mL. "
            "How many mL should be given?"
        )
        mg = c.calc("Dose in mg", f"{w} * {dose}", w * dose)
        ans = c.calc("Volume", f"{c.t(mg)} / {conc}", mg / conc, swapped=Fraction(conc) / mg)
        unit = "mL"
    else:
        w, times = params["split_weight"], params["times"]
        prompt = (
            f"A patient weighing {w} kg needs {drug} {dose} mg/kg/day, divided into {times} equal doses. "
            "How many mg is each dose?"
        )
        day = c.calc("Daily dose", f"{w} * {dose}", w * dose)
        ans = c.calc("Each dose", f"{c.t(day)} / {times}", day / times, swapped=Fraction(times) / day)
        unit = "mg"
    assert ans.denominator == 1 or c.tamper.target is not None, (params, ans)  # gold: whole numbers
    meta = {"step_check": "equal", "kind": k, "unit": unit, "abs_tol": 0.0}
    return Solution(prompt, show(ans), c.steps, meta)


TASK = Dosage()
