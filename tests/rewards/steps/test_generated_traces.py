"""The rule verifier on data_gen's traces: finds every injected first error, no false alarm on gold.

Every family with error injection is covered, the four code families included: a corrupted
execution fact (`Check: f(args) = wrong`) is found by running it against the item's reference
program (the steps alone) or against the program the trace ends with (steps + answer)."""

from __future__ import annotations

import pytest

from data_gen.generate import corrupt_item, generate, get_generator
from data_gen.registry import GENERATORS
from data_gen.render import completion, gold_completion
from rewards.steps import Verdict, first_error, verify_steps
from rewards.steps.segment import split_steps

CODE_FACT_TASKS = ("code_function", "code_fix", "code_stdio")


@pytest.mark.parametrize("task", GENERATORS.names())
def test_injected_errors_found_and_gold_accepted(task):
    items = generate(task, 12, seed=3, level=3.0)
    injectable = getattr(get_generator(task), "injectable", False)
    found = total = false_alarms = 0
    for item in items:
        false_alarms += first_error(item, split_steps(gold_completion(item))) != -1
        for target in range(len(item["solution_steps"])) if injectable else ():
            bad = corrupt_item(item, target=target)
            with_answer = split_steps(completion(bad["steps"], bad["answer"]))
            for steps in (bad["steps"], with_answer):
                total += 1
                found += first_error(item, steps) == bad["first_wrong"]
    assert false_alarms == 0
    if injectable:
        assert found / total >= 0.99, (found, total)


def test_every_family_with_steps_injects_errors():
    assert all(getattr(get_generator(t), "injectable", False) for t in GENERATORS.names())


@pytest.mark.parametrize("task", CODE_FACT_TASKS)
def test_gold_execution_facts_are_run_and_hold(task):
    """Gold code facts are `correct` (they ran and held), not merely not-incorrect."""
    for item in generate(task, 6, seed=5, level=3.0):
        verdicts = verify_steps(item, split_steps(gold_completion(item)))
        assert [v.verdict for v in verdicts] == [Verdict.CORRECT] * len(verdicts), verdicts
