"""The rule verifier on data_gen's traces: finds every injected first error, no false alarm on gold."""

from __future__ import annotations

import pytest

from data_gen.generate import corrupt_item, generate, get_generator
from data_gen.registry import GENERATORS
from data_gen.render import gold_completion
from rewards.steps import first_error
from rewards.steps.segment import split_steps


@pytest.mark.parametrize("task", GENERATORS.names())
def test_injected_errors_found_and_gold_accepted(task):
    items = generate(task, 12, seed=3, level=3.0)
    injectable = getattr(get_generator(task), "injectable", False)
    found = total = false_alarms = 0
    for item in items:
        false_alarms += first_error(item, split_steps(gold_completion(item))) != -1
        for target in range(len(item["solution_steps"])) if injectable else ():
            bad = corrupt_item(item, target=target)
            total += 1
            found += first_error(item, bad["steps"]) == bad["first_wrong"]
    assert false_alarms == 0
    if injectable:
        assert found / total >= 0.99, (found, total)
