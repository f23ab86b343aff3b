"""An outcome-only item (`meta.step_check: none`) gets step rewards of None (masked), never 0."""

from __future__ import annotations

from rewards.step_rewards import RuleStepReward
from rewards.steps import Verdict, build_context, verify_steps
from rewards.types import Problem, StepSpan


def _spans(*texts: str) -> list[StepSpan]:
    return [StepSpan(i, i + 1, t) for i, t in enumerate(texts)]


def _problem(step_check: str) -> Problem:
    return Problem(
        id=f"p-{step_check}",
        task="math",
        prompt="Compute 2 + 2.",
        answer="4",
        meta={"step_check": step_check},
    )


def test_outcome_only_items_are_masked_whatever_unverifiable_says():
    steps = _spans("2 + 2 = 5", "so 2 + 2 = 4", "Therefore the answer is 4")
    checked, outcome_only = _problem("equal"), _problem("none")
    strict = RuleStepReward(unverifiable=0.0)  # even a recipe that scores unverifiable steps 0
    got = strict.score_steps([checked, outcome_only], [steps, steps])
    assert got[0][:2] == [0.0, 1.0]  # the same text is checked on a checkable item
    assert got[1] == [None, None, None] and strict.errors == 0
    assert not build_context(outcome_only).checkable
    assert {v.verdict for v in verify_steps(outcome_only, ["2 + 2 = 5"])} == {Verdict.UNVERIFIABLE}


def test_stdio_items_are_code_items_for_the_step_verifier():
    p = Problem(
        id="s", task="stdio", prompt="Read n, print 2n.", answer="print(2 * int(input()))", meta={"cases": []}
    )
    assert build_context(p).code
