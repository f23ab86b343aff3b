"""Step rewards must not be farmable: padding a correct trace with trivially true or repeated
steps must not raise its process advantage above a concise correct trace's.

Hand-written completions of one problem, scored by the real `rule` step verifier and math
answer check, one token per step, through the real estimators. Today's defaults (every true
claim paid, step terms summed) are farmable; `credit: answer_chain` with `step_norm: count`
is not.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rewards.step_rewards import RuleStepReward
from rewards.types import Problem, StepSpan
from rlhf.algos import ADVANTAGES
from rlhf.config.recipe import AlgoSection

PROBLEM = Problem(
    id="p",
    task="integer_arithmetic",
    prompt="Compute 7 - 1 * 7 - 8 * 8.",
    answer="-64",
    meta={"expression": "7 - 1 * 7 - 8 * 8", "step_check": "equal"},
)
CONCISE = [
    "Multiply: 7 - 1 * 7 - 8 * 8 = 7 - 7 - 8 * 8",
    "Multiply: 7 - 7 - 8 * 8 = 7 - 7 - 64",
    "Subtract: 7 - 7 - 64 = 0 - 64",
    "Subtract: 0 - 64 = -64",
    "<answer>-64</answer>",
]
TRIVIAL = CONCISE[:2] + ["Add: 1 + 1 = 2", "Add: 2 + 2 = 4", "Multiply: 1 * 1 = 1"] + CONCISE[2:]
REPEATED = CONCISE[:1] + [CONCISE[0], CONCISE[1], CONCISE[1], CONCISE[2], CONCISE[2]] + CONCISE[3:]
WRONG = CONCISE[:2] + ["Subtract: 7 - 7 - 64 = 1 - 64", "Subtract: 1 - 64 = -63", "<answer>-63</answer>"]
MERGED = CONCISE[:1] + ["Multiply: 7 - 7 - 8 * 8 = 7 - 7 - 64", "Subtract: 7 - 7 - 64 = -64"] + CONCISE[4:]


def first_token_advantages(build_batch, traces, estimator, credit, step_norm, idle=None, unverifiable=None):
    """The advantage of each trace's first token (it answers for the whole trace)."""
    rule = RuleStepReward(credit=credit, idle=idle, unverifiable=unverifiable)
    scores = rule.score_steps([PROBLEM] * len(traces), [[StepSpan(0, 0, t) for t in s] for s in traces])
    width = max(len(s) for s in traces)
    mask = [[1.0] * len(s) + [0.0] * (width - len(s)) for s in traces]
    steps = [row + [None] * (width - len(row)) for row in scores]
    outcomes = [1.0 if s[-1] == f"<answer>{PROBLEM.answer}</answer>" else 0.0 for s in traces]
    batch = build_batch(mask, [0] * len(traces), outcomes=outcomes, step_rewards=steps)
    cfg = dataclasses.replace(AlgoSection(), process_weight=0.5, step_norm=step_norm)
    adv = ADVANTAGES.get(estimator)(batch, cfg)
    assert torch.isfinite(adv).all()
    return adv[:, 0].tolist()


GROUP = [CONCISE, TRIVIAL, REPEATED, WRONG, WRONG, CONCISE]


@pytest.mark.parametrize("estimator", ["process_grpo", "mixed"])
def test_defaults_pay_for_padding(make_batch, estimator):
    """The threat is real: with every true claim paid and step terms summed, padding wins."""
    concise, trivial, repeated, *_ = first_token_advantages(make_batch, GROUP, estimator, "all", "sum")
    assert trivial > concise + 0.1 and repeated > concise + 0.1


@pytest.mark.parametrize("estimator", ["process_grpo", "mixed"])
@pytest.mark.parametrize("idle", [None, 0.0])
def test_answer_chain_credit_with_count_norm_is_not_farmable(make_batch, estimator, idle):
    concise, trivial, repeated, wrong, _, _ = first_token_advantages(
        make_batch, GROUP, estimator, "answer_chain", "count", idle
    )
    assert trivial <= concise + 1e-6
    assert repeated <= concise + 1e-6
    assert wrong < concise  # the guard still tells right from wrong


def test_count_norm_does_not_punish_a_shorter_correct_chain(make_batch):
    """Summed step terms favour writing more steps; the mean does not."""
    group = [CONCISE, MERGED, WRONG, WRONG]
    summed = first_token_advantages(make_batch, group, "process_grpo", "answer_chain", "sum")
    assert summed[1] < summed[0] - 0.1
    counted = first_token_advantages(make_batch, group, "process_grpo", "answer_chain", "count")
    assert counted[1] == pytest.approx(counted[0])


# The other way to game a step check: leave the claim out. A step the verifier cannot read
# (`Subtract: 7 - 7 - 64`, no `= value`) is unverifiable, masked by default, so a policy that is
# unsure of a step gains by not writing its result (seen in the demo, seed 1: verifiable steps
# 575 -> 433 over 200 held-out traces and format 1.00 -> 0.68 after GRPO, accuracy still rising).
SHOWN = CONCISE[:2] + ["Subtract: 7 - 7 - 64 = 1 - 64", "Subtract: 0 - 64 = -64", "<answer>-64</answer>"]
HIDDEN = CONCISE[:2] + ["Subtract: 7 - 7 - 64", "Subtract: 0 - 64 = -64", "<answer>-64</answer>"]


@pytest.mark.parametrize("estimator", ["process_grpo", "mixed"])
def test_hiding_a_wrong_step_pays_when_unverifiable_steps_are_masked(make_batch, estimator):
    group = [CONCISE, SHOWN, HIDDEN, WRONG]
    _, shown, hidden, _ = first_token_advantages(make_batch, group, estimator, "answer_chain", "count")
    assert hidden > shown + 0.05  # the threat: the same trace, its wrong claim left out, scores higher
    _, shown, hidden, _ = first_token_advantages(
        make_batch, group, estimator, "answer_chain", "count", unverifiable=0.0
    )
    assert hidden <= shown + 1e-6  # `unverifiable: 0.0`: an unreadable step counts as a wrong one


def test_step_norm_is_validated():
    from rlhf.config.loader import from_dict

    assert from_dict(AlgoSection, {"step_norm": "count"}).step_norm == "count"
    with pytest.raises((ValueError, TypeError), match="step_norm"):
        from_dict(AlgoSection, {"step_norm": "median"}, "algo")
