"""Per-family guarantees, for every registered task at a low and a high level:
gold answers accepted by the family's scorer and perturbed ones rejected, every gold step
verifies with sympy (tests' own checker), injected errors labelled at their true index."""

from __future__ import annotations

import re

import pytest
from datagen_stepcheck import first_false_step, step_holds

from data_gen.generate import build_item, corrupt_item, generate, get_generator, make_config
from data_gen.inject import prm_rows, processbench_rows
from data_gen.registry import GENERATORS
from data_gen.render import gold_completion

N = 40
N_CODE = 3  # code items run the sandbox (tens of ms each) to validate their reference
CODE_TASKS = [t for t in GENERATORS.names() if t.startswith("code_")]
MATH_TASKS = [t for t in GENERATORS.names() if t not in CODE_TASKS]
SYMPY_STEP_TASKS = MATH_TASKS + ["code_output"]  # code_output traces are arithmetic claims


def perturb_answer(answer: str) -> str:
    """Add one to the first number in the answer (a different value in every answer form)."""
    m = re.search(r"\d+(\.\d+)?", answer)
    assert m, answer
    num = m.group(0)
    bumped = str(int(num) + 1) if "." not in num else f"{float(num) + 1:.{len(num.split('.')[1])}f}"
    return answer[: m.start()] + bumped + answer[m.end() :]


@pytest.fixture(scope="module", params=[0, 7])
def items(request):
    return {
        t: generate(t, N_CODE if t in CODE_TASKS else N, seed=5, level=request.param)
        for t in GENERATORS.names()
    }


@pytest.mark.parametrize(
    "task", [pytest.param(t, marks=pytest.mark.slow) if t in CODE_TASKS else t for t in GENERATORS.names()]
)
def test_gold_answers_accepted_perturbed_rejected(items, task):
    gen = get_generator(task)
    for it in items[task]:
        assert gen.score(it, gold_completion(it)) == 1.0, it
        assert gen.score(it, it["answer"]) == 1.0
        if it["meta"].get("entry_point"):  # code: a wrong program, and the buggy one for code_fix
            wrong = f"def {it['meta']['entry_point']}(*args):\n    return None\n"
            assert gen.score(it, f"<answer>{wrong}</answer>") == 0.0
            if it["meta"].get("buggy"):
                assert gen.score(it, f"<answer>{it['meta']['buggy']}</answer>") == 0.0
        else:
            assert gen.score(it, f"<answer>{perturb_answer(it['answer'])}</answer>") == 0.0, it
        assert gen.score(it, "<answer>not a number</answer>") == 0.0


@pytest.mark.parametrize("task", SYMPY_STEP_TASKS)
def test_every_gold_step_verifies(items, task):
    for it in items[task]:
        assert it["solution_steps"], it
        for step in it["solution_steps"]:
            assert "\n" not in step
            assert step_holds(step, it["meta"]), (step, it)


@pytest.mark.parametrize("task", [t for t in CODE_TASKS if t != "code_output"])
def test_code_steps_are_true_execution_facts(items, task):
    for it in items[task]:
        env: dict = {}
        exec(it["answer"].split("\nimport sys")[0], env)  # our own reference (stdio main stripped)
        for step in it["solution_steps"]:
            lhs, rhs = step.split(": ", 1)[1].split(" = ", 1)
            assert eval(lhs, env) == eval(rhs), step
        assert it["meta"]["step_check"] == "execution"


@pytest.mark.parametrize("task", [t for t in CODE_TASKS if t != "code_output"])
def test_code_injection_states_one_execution_fact_wrongly(items, task):
    for it in items[task]:
        env: dict = {}
        exec(it["answer"].split("\nimport sys")[0], env)  # our own reference (stdio main stripped)
        for target in range(len(it["solution_steps"])):
            bad = corrupt_item(it, target)
            assert bad["first_wrong"] == target and bad["answer"] == it["answer"]
            for k, (gold, step) in enumerate(zip(it["solution_steps"], bad["steps"], strict=True)):
                lhs, rhs = step.split(": ", 1)[1].split(" = ", 1)
                assert (eval(lhs, env) == eval(rhs)) == (k != target), (step, gold)
                assert (step == gold) == (k != target)


@pytest.mark.parametrize(
    "task", [t for t in SYMPY_STEP_TASKS if getattr(GENERATORS.get(t), "injectable", False)]
)
def test_injected_errors_are_labelled_at_their_true_index(items, task):
    for it in items[task]:
        n = len(it["solution_steps"])
        for target in sorted({0, n // 2, n - 1}):
            bad = corrupt_item(it, target)
            assert bad["first_wrong"] == target
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


def test_several_corruptions_per_item_are_distinct_and_labelled_exactly():
    its = generate("integer_arithmetic", 30, seed=2, level=5)
    rows = list(prm_rows(its, corruptions=4))
    by_item: dict[str, list[dict]] = {}
    for row in rows:
        by_item.setdefault(row["id"].rsplit("-", 1)[0], []).append(row)
    assert len(by_item) == 30 and len(rows) > 60  # more than the one corruption of the default
    for it in its:
        group = by_item[it["id"]]
        assert group[0]["completions"] == it["solution_steps"] and all(group[0]["labels"])
        assert len({tuple(r["completions"]) for r in group}) == len(group) <= 5  # gold + up to 4, no repeats
        for row in group[1:]:
            first = row["labels"].index(False)
            assert row["labels"] == [i < first for i in range(len(row["labels"]))]
            assert first_false_step(row["completions"], it["meta"]) == first  # the rule verifier agrees
    # variant 0 is the canonical corruption, so exports with one corruption are unchanged
    assert [r["completions"] for r in prm_rows(its[:5])][1::2] == [
        corrupt_item(it)["steps"] for it in its[:5]
    ]
    with pytest.raises(ValueError, match="corruptions must be >= 1"):
        list(prm_rows(its, corruptions=0))


@pytest.mark.slow
def test_items_whose_reference_fails_are_never_emitted(monkeypatch):
    """Break the reference of some candidates: the sandbox rejects them and they are skipped."""
    gen = get_generator("code_function")
    real_solve, real_validate = gen.solve, gen.validate
    verdicts: list[bool] = []

    def solve(params, tamper=None):
        sol = real_solve(params)
        if "return" in sol.answer and params["spec"].args == "xs":
            sol.answer = sol.answer.replace("return ", "return None and ", 1)
        return sol

    def validate(sol):
        verdicts.append(real_validate(sol))
        return verdicts[-1]

    monkeypatch.setattr(gen, "solve", solve)
    monkeypatch.setattr(gen, "validate", validate)
    items = generate("code_function", 4, seed=3)
    assert len(items) == 4 and False in verdicts
    assert all("return None and" not in it["answer"] for it in items)
    rebuilt = [build_item("code_function", 3, i, make_config("code_function")) for i in range(6)]
    assert {r["meta"]["split"] == "rejected" for r in rebuilt} == {True, False}
    assert all(r["meta"]["split"] != "rejected" for r in rebuilt if "return None and" not in r["answer"])
