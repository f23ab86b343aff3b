"""Per-family guarantees, for every registered task at a low and a high level:
gold answers accepted by the family's scorer and perturbed ones rejected, every gold step
verifies with sympy (tests' own checker), injected errors labelled at their true index."""

from __future__ import annotations

import re

import pytest
from datagen_stepcheck import first_false_step, step_holds

from data_gen.generate import corrupt_item, generate, get_generator
from data_gen.inject import prm_rows, processbench_rows
from data_gen.registry import GENERATORS
from data_gen.render import gold_completion

N = 40
MATH_TASKS = [t for t in GENERATORS.names() if not t.startswith("code_")]


def perturb_answer(answer: str) -> str:
    """Add one to the first number in the answer (a different value in every answer form)."""
    m = re.search(r"\d+(\.\d+)?", answer)
    assert m, answer
    num = m.group(0)
    bumped = str(int(num) + 1) if "." not in num else f"{float(num) + 1:.{len(num.split('.')[1])}f}"
    return answer[: m.start()] + bumped + answer[m.end() :]


@pytest.fixture(scope="module", params=[0, 7])
def items(request):
    return {t: generate(t, N, seed=5, level=request.param) for t in GENERATORS.names()}


@pytest.mark.parametrize("task", GENERATORS.names())
def test_gold_answers_accepted_perturbed_rejected(items, task):
    gen = get_generator(task)
    for it in items[task]:
        assert gen.score(it, gold_completion(it)) == 1.0, it
        assert gen.score(it, it["answer"]) == 1.0
        assert gen.score(it, f"<answer>{perturb_answer(it['answer'])}</answer>") == 0.0, it
        assert gen.score(it, "<answer>not a number</answer>") == 0.0


@pytest.mark.parametrize("task", MATH_TASKS)
def test_every_gold_step_verifies(items, task):
    for it in items[task]:
        assert it["solution_steps"], it
        for step in it["solution_steps"]:
            assert "\n" not in step
            assert step_holds(step, it["meta"]), (step, it)


@pytest.mark.parametrize("task", [t for t in MATH_TASKS if getattr(GENERATORS.get(t), "injectable", False)])
def test_injected_errors_are_labelled_at_their_true_index(items, task):
    for it in items[task]:
        n = len(it["solution_steps"])
        for target in sorted({0, n // 2, n - 1}):
            bad = corrupt_item(it, target)
            assert bad["first_wrong"] == target
            assert len(bad["steps"]) == n
            assert bad["steps"][:target] == it["solution_steps"][:target]
            assert first_false_step(bad["steps"], it["meta"]) == target, (bad, it)


def test_prm_and_processbench_rows():
    its = generate("integer_arithmetic", 30, seed=1, level=5)
    prm = list(prm_rows(its))
    pb = list(processbench_rows(its))
    assert len(prm) == len(pb) == 60
    for row, b in zip(prm, pb):
        assert len(row["labels"]) == len(row["completions"]) == len(b["steps"])
        if b["label"] == -1:
            assert all(row["labels"]) and b["final_answer_correct"]
        else:
            assert row["labels"] == [i < b["label"] for i in range(len(row["labels"]))]
            assert first_false_step(b["steps"], {}) == b["label"]
    assert {b["label"] == -1 for b in pb} == {True, False}
