"""samples.jsonl rows: each step's verdict, where it sits in the completion, and the advantage its tokens got."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from rewards.types import Problem, Rollout, StepSpan
from rlhf.trainers.rl.report import sample_records, verdict


def _collected():
    problem = Problem(id="p0", task="arith", prompt="Compute 2 + 3.", answer="5")
    text = "Add 2 and 3.\nSo 2 + 3 = 6.\nhmm"
    steps = (
        StepSpan(0, 3, "Add 2 and 3.", 1.0),  # completion tokens 0..2
        StepSpan(3, 6, "So 2 + 3 = 6.", 0.0),  # tokens 3..5
        StepSpan(6, 7, "hmm", None),  # token 6
    )
    r = Rollout("p0", 0, (1, 2), tuple(range(10, 17)), (0.0,) * 7, text, "stop", 0.0, steps)
    adv = torch.zeros(1, 9)  # [N, T]: 2 prompt columns, then 7 completion tokens
    adv[0, 2:5] = 0.5
    adv[0, 5:8] = torch.tensor([-1.0, -2.0, -3.0])
    adv[0, 8] = 0.25
    return SimpleNamespace(rollouts=[r], problems=[problem], advantages=adv)


def test_steps_carry_verdict_position_and_their_tokens_mean_advantage():
    [rec] = sample_records(7, _collected(), limit=4)
    assert [s["verdict"] for s in rec["steps"]] == ["right", "wrong", "unverifiable"]
    assert [s["char_start"] for s in rec["steps"]] == [0, 13, 27]
    assert [s["advantage"] for s in rec["steps"]] == pytest.approx([0.5, -2.0, 0.25])
    assert rec["advantage"] == pytest.approx((1.5 - 6.0 + 0.25) / 7)
    assert rec["step"] == 7 and rec["outcome"] == 0.0


def test_without_advantages_the_row_still_has_verdicts():
    col = _collected()
    col.advantages = None
    [rec] = sample_records(0, col, limit=1)
    assert rec["advantage"] is None and "advantage" not in rec["steps"][0]
    assert rec["steps"][1]["verdict"] == "wrong"


@pytest.mark.parametrize(
    ("score", "want"), [(None, "unverifiable"), (0.49, "wrong"), (0.5, "right"), (1.0, "right")]
)
def test_verdict_uses_step_accuracys_threshold(score, want):
    assert verdict(score) == want
