"""The whole-number domain levels (`whole=1` on finance, dosage, unit_conversion): every value an
integer, gold steps verified by the tests' own sympy checker (abs_tol 0: exact), the family's
scorer accepting gold and rejecting a neighbour, the error injector labelling the first wrong
step, and the default items (whole=0) unchanged byte for byte. The smallest level (`whole=2` on
finance and unit_conversion): the same checks, plus every step being one-digit arithmetic, and
the whole=1 items unchanged by its arrival."""

from __future__ import annotations

import hashlib
import json
import re

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
SMALL_KINDS = {
    "finance": {"purchase", "change", "purchase_delivery", "profit", "savings", "interest_total"},
    "unit_conversion": {"scale_small", "mixed_small"},
}
# sha256 prefixes of 50 whole=1 items (seed 3) with their meta, taken before whole=2 existed
WHOLE1_DIGESTS = {
    "finance": "5a772db3a1209d6a",
    "dosage": "2df9e59f583397da",
    "unit_conversion": "c138d1d5123c7a0a",
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
    with pytest.raises(ValueError, match="whole=3"):
        generate("finance", 1, overrides={"whole": 3})
    with pytest.raises(ValueError, match="whole=2"):
        generate("dosage", 1, overrides={"whole": 2})  # dosage has no small level


@pytest.mark.parametrize("task", list(WHOLE1_DIGESTS))
def test_whole_1_items_unchanged(task):
    items = generate(task, 50, seed=3, overrides={"whole": 1})
    rows = [[i["prompt"], i["answer"], i["solution_steps"], i["meta"]] for i in items]
    blob = json.dumps(rows, sort_keys=True).encode()
    assert hashlib.sha256(blob).hexdigest()[:16] == WHOLE1_DIGESTS[task]


@pytest.fixture(scope="module")
def small_items():
    return {t: generate(t, 150, seed=5, overrides={"whole": 2}) for t in SMALL_KINDS}


_STEP = re.compile(r"^[A-Z][\w ]*: (\d+) ([-+*]) (\d+) = (\d+)$")


@pytest.mark.parametrize("task", list(SMALL_KINDS))
def test_small_items_are_one_digit_steps(small_items, task):
    """Each step is `Label: x op y = z` with a one-digit y (and a one-digit x, or the previous
    step's result): the arithmetic the demo's general model is trained on."""
    items = small_items[task]
    assert {it["meta"]["kind"] for it in items} == SMALL_KINDS[task]
    gen = get_generator(task)
    for it in items:
        steps = it["solution_steps"]
        assert 1 <= len(steps) <= 2 and it["meta"]["abs_tol"] == 0.0, it
        prev = None
        for step in steps:
            m = _STEP.match(step)
            assert m, step
            x, _, y, _ = m.groups()
            assert int(y) <= 9 and (int(x) <= 9 or x == prev), it
            assert step_holds(step, it["meta"]), step
            prev = m.group(4)
        assert prev == it["answer"] and int(it["answer"]) > 0
        assert " 1 dollars" not in it["prompt"] and not re.search(r"\b1 \w+s\b", it["prompt"]), it
        assert gen.score(it, f"<answer>{it['answer']}</answer>") == 1.0
        assert gen.score(it, f"<answer>{int(it['answer']) + 1}</answer>") == 0.0


@pytest.mark.parametrize("task", list(SMALL_KINDS))
def test_small_items_injected_error_at_the_first_wrong_step(small_items, task):
    for it in small_items[task][:60]:
        for target in range(len(it["solution_steps"])):
            bad = corrupt_item(it, target)
            assert bad["first_wrong"] == target
            assert first_false_step(bad["steps"], it["meta"]) == target, (bad, it)


@pytest.mark.parametrize("task", list(SMALL_KINDS))
def test_small_level_has_a_held_out_set_disjoint_from_train(task):
    test = generate(task, 100, seed=0, overrides={"whole": 2}, split="test")
    train = generate(task, 664, seed=0, overrides={"whole": 2})
    assert len({i["prompt"] for i in test}) == 100
    assert not {i["prompt"] for i in test} & {i["prompt"] for i in train}
