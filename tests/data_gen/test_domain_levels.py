"""The whole-number domain levels (`whole=1` on finance, dosage, unit_conversion): every value an
integer, gold steps verified by the tests' own sympy checker (abs_tol 0: exact), the family's
scorer accepting gold and rejecting a neighbour, the error injector labelling the first wrong
step, and the default items (whole=0) unchanged byte for byte."""

from __future__ import annotations

import hashlib
import json

import pytest
from datagen_stepcheck import first_false_step, step_holds

from data_gen.generate import corrupt_item, generate, get_generator
from data_gen.inject import prm_rows

DOMAIN = ("finance", "dosage", "unit_conversion")
KINDS = {
    "finance": {"simple_interest_whole", "percent_change_whole", "discount", "sales_tax", "instalments"},
    "dosage": {"dose_mg", "volume_whole", "daily_split_whole"},
    "unit_conversion": {"to_smaller", "to_larger", "two_steps"},
}
# sha256 prefixes of 50 default items (seed 3) at level 0 and 7, taken before the whole levels existed
DEFAULT_DIGESTS = {
    ("finance", None): "7559e3c2a9993768",
    ("finance", 7): "0fc56d3e728ff991",
    ("dosage", None): "28d2d5b2fa9eece3",
    ("dosage", 7): "3d5e1eb70c8ef1d6",
    ("unit_conversion", None): "a50cdb76695e6bb1",
    ("unit_conversion", 7): "015a8a238d7f54da",
}


@pytest.fixture(scope="module")
def whole_items():
    return {t: generate(t, 120, seed=11, overrides={"whole": 1}) for t in DOMAIN}


@pytest.mark.parametrize("task", DOMAIN)
def test_whole_items_are_integers_with_exact_true_steps(whole_items, task):
    items = whole_items[task]
    assert {it["meta"]["kind"] for it in items} == KINDS[task]  # every kind is drawn
    gen = get_generator(task)
    for it in items:
        assert it["answer"].lstrip("-").isdigit(), it
        assert it["meta"]["abs_tol"] == 0.0 and "Round" not in it["prompt"]
        assert it["solution_steps"] and all(step_holds(s, it["meta"]) for s in it["solution_steps"]), it
        assert gen.score(it, f"<answer>{it['answer']}</answer>") == 1.0
        assert gen.score(it, f"<answer>{int(it['answer']) + 1}</answer>") == 0.0


@pytest.mark.parametrize("task", DOMAIN)
def test_injected_error_is_labelled_at_the_first_wrong_step(whole_items, task):
    for it in whole_items[task][:40]:
        for target in range(len(it["solution_steps"])):
            bad = corrupt_item(it, target)
            assert bad["first_wrong"] == target
            assert first_false_step(bad["steps"], it["meta"]) == target, (bad, it)
    rows = list(prm_rows(whole_items[task][:10]))
    assert rows and any(not all(r["labels"]) for r in rows)


@pytest.mark.parametrize(("task", "level"), list(DEFAULT_DIGESTS))
def test_default_items_unchanged(task, level):
    items = generate(task, 50, seed=3, level=level)
    blob = json.dumps([[i["prompt"], i["answer"], i["solution_steps"]] for i in items]).encode()
    assert hashlib.sha256(blob).hexdigest()[:16] == DEFAULT_DIGESTS[(task, level)]


def test_whole_knob_out_of_range_is_named():
    with pytest.raises(ValueError, match="whole=2"):
        generate("finance", 1, overrides={"whole": 2})
