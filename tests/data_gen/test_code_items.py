"""Code families: the prompt's example is never a hidden test, and every family yields PRM rows.

A prompt that shows one of the hidden asserts lets a solution pass a test by echoing the
prompt; the example is drawn apart from the tests. Process supervision covers all four
code families: `--prm` rows whose first False label is the step the rule verifier rejects.
"""

from __future__ import annotations

import pytest

from data_gen.code_specs import call_text, hidden_and_example, make_spec
from data_gen.generate import build_item, generate, make_config
from data_gen.inject import prm_rows
from rewards.steps import first_error

CODE_TASKS = ("code_function", "code_fix", "code_stdio", "code_output")


def _asserts(tests: str) -> list[str]:
    """`name(args) == expected` of each hidden assert line."""
    return [line.removeprefix("assert ").strip() for line in tests.splitlines() if line.startswith("assert ")]


@pytest.mark.parametrize("level", [0, 7])
def test_code_function_prompt_shows_no_hidden_test(level):
    items = generate("code_function", 12, seed=11, level=level)
    for it in items:
        hidden = _asserts(it["meta"]["tests"])
        assert len(hidden) == make_config("code_function", level).n_tests
        assert not [h for h in hidden if h in it["prompt"]], it["prompt"]
        shown_call = it["prompt"].split("Example: ", 1)[1].split(" == ", 1)[0]
        assert all(not h.startswith(shown_call + " == ") for h in hidden)  # not even the input


def test_code_stdio_prompt_shows_no_hidden_case():
    for it in generate("code_stdio", 12, seed=11):
        shown = it["prompt"].split("Example: input '", 1)[1].split("'", 1)[0]
        assert shown not in [c["input"].strip() for c in it["meta"]["cases"]], it["prompt"]


def test_items_with_a_separate_example_are_still_rebuilt_from_task_seed_index():
    cfg = make_config("code_function")
    first = [build_item("code_function", 4, i, cfg) for i in range(3)]
    assert first == [build_item("code_function", 4, i, cfg) for i in range(3)]


def test_example_is_drawn_apart_from_the_hidden_cases():
    import random

    rng = random.Random(0)
    for _ in range(50):
        spec = make_spec(rng)
        cases, (ex_args, _) = hidden_and_example(spec, rng, 5)
        assert len(cases) == 5 and call_text(spec, ex_args) not in {call_text(spec, a) for a, _ in cases}


@pytest.mark.parametrize("task", CODE_TASKS)
def test_every_code_family_yields_prm_rows_labelled_where_the_verifier_finds_the_error(task):
    items = generate(task, 4, seed=5)
    rows = list(prm_rows(items, corruptions=2))
    by_id = {it["id"]: it for it in items}
    flawed = 0
    for row in rows:
        item = by_id[row["id"].rsplit("-", 1)[0]]
        wrong = row["labels"].index(False) if False in row["labels"] else -1
        assert row["labels"] == [wrong < 0 or i < wrong for i in range(len(row["completions"]))]
        assert first_error(item, row["completions"]) == wrong, row
        flawed += wrong >= 0
    assert len(rows) > len(items) and flawed >= len(items)  # gold plus at least one corrupted row each
