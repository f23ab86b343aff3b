"""Rewards that crash, hang or return garbage: masked per sample, counted, and the run goes on;
rewards failing for most of the batch K steps in a row stop the run with a checkpoint."""

from __future__ import annotations

import json
import math
import time

import pytest

from rewards.combine import CombinedReward, RewardSpec
from rewards.guard import check_scores, check_step_rows, guarded_call
from rewards.types import Problem
from tests.faults.common import metrics, train
from tests.rlhf.trainers.rl_helpers import recipe

FLAKY = "tests.faults.faulty_rewards:flaky"
P = Problem(id="p", task="t", prompt="q", messages=(), answer="1")


def _combined(plan: str, timeout_s: float | None = 2.0) -> CombinedReward:
    return CombinedReward([RewardSpec(FLAKY, 1.0, {"plan": plan})], timeout_s=timeout_s)


@pytest.mark.parametrize(
    "mode,fault", [("crash", "error"), ("bad_type", "bad_type"), ("bad_length", "bad_length")]
)
def test_a_failing_call_masks_every_sample_and_counts_it(mode, fault):
    out = _combined(f"0:{mode}").score([P] * 4, ["1", "a2", "b", "33"])
    assert out.totals == [None] * 4
    assert out.faults == [True] * 4
    assert out.stats[f"reward/{FLAKY}/fault/{fault}"] == 4.0
    again = _combined(f"0:{mode}")  # a fresh reward: its second call is healthy
    again([P], ["x"])
    assert again.score([P] * 2, ["1", "x"]).totals[0] is not None


def test_a_hanging_reward_is_abandoned_at_its_deadline():
    t0 = time.perf_counter()
    out = _combined("0:hang", timeout_s=0.5).score([P] * 3, ["1", "2", "3"])
    assert time.perf_counter() - t0 < 5
    assert out.totals == [None] * 3 and out.stats[f"reward/{FLAKY}/fault/timeout"] == 3.0


def test_garbage_items_are_masked_one_by_one():
    out = _combined("0:nan_half").score([P] * 4, ["1", "2", "3", "4"])
    assert [t is None for t in out.totals] == [False, True, False, True]
    assert out.faults == [False, True, False, True]
    bad = _combined("0:bad_items").score([P] * 2, ["1", "2"])
    assert bad.totals == [None, None] and bad.stats[f"reward/{FLAKY}/fault/bad_type"] == 2.0


def test_none_is_a_verdict_not_a_fault_and_numbers_of_any_kind_pass():
    import numpy as np
    import torch

    got = check_scores([None, 1, True, np.float32(0.5), torch.tensor(0.25)], 5)
    assert got.scores == [None, 1.0, 1.0, 0.5, 0.25] and got.faults == [None] * 5
    assert check_scores([math.inf], 1).faults == ["non_finite"]
    assert check_scores([1e39, -3e38], 2).faults == ["non_finite", None]  # past float32's range
    assert check_scores(None, 2).faults == ["bad_type", "bad_type"]
    assert check_scores({"a": 1}, 1).faults == ["bad_type"]


def test_step_reward_rows_are_checked_per_completion():
    check = check_step_rows([2, 1])
    ok = check([[1.0, None], [0.0]], 2)
    assert ok.scores == [[1.0, None], [0.0]] and ok.faults == [None, None]
    bad = check([[1.0, float("nan")], [0.0, 1.0]], 2)
    assert bad.faults == ["non_finite", "bad_length"]
    assert bad.scores == [[1.0, None], [None]]
    crashed = guarded_call(lambda *a: 1 / 0, (), 2, 1.0, check_step_rows([1, 3]))
    assert crashed.scores == [[None], [None, None, None]] and crashed.faults == ["error", "error"]
    assert "ZeroDivisionError" in crashed.detail


@pytest.mark.slow
def test_a_run_goes_on_through_crashes_hangs_and_garbage(tmp_path, repo_root):
    """Calls 1-3 (steps 1-3) crash, hang and return NaN for half the batch; the run finishes."""
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\nfaults:\n  reward_timeout_s: 1.0\n")
    res = train(
        repo_root,
        [
            str(r),
            f"rewards=[{{name: '{FLAKY}', params: {{plan: '1:crash,2:hang,3:nan_half'}}}}]",
            "train.steps=5",
        ],
    )
    assert res.returncode == 0, res.stderr[-3000:]
    recs = metrics(tmp_path / "run")
    assert [m["step"] for m in recs] == list(range(5))
    assert [m["reward_fault_frac"] for m in recs] == [0.0, 1.0, 1.0, 0.5, 0.0]
    assert recs[1]["reward/flaky/fault/error"] == 8.0 and recs[2]["reward/flaky/fault/timeout"] == 8.0
    assert recs[3]["reward/flaky/fault/non_finite"] == 4.0
    assert recs[1]["skipped"] == recs[2]["skipped"] == "all rewards unverifiable"
    # the half of step 3's batch that kept its reward still trains
    assert "skipped" not in recs[3] and math.isfinite(recs[3]["pg_loss"]) and recs[3]["skipped_updates"] == 0
    assert [m["reward_fail_steps"] for m in recs] == [0, 1, 2, 0, 0]


@pytest.mark.slow
def test_a_reward_failing_k_steps_in_a_row_stops_the_run_with_a_checkpoint(tmp_path, repo_root):
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\nfaults:\n  max_reward_fail_steps: 2\n")
    res = train(
        repo_root,
        [
            str(r),
            f"rewards=[{{name: '{FLAKY}', params: {{plan: '2:crash,3:crash,4:crash'}}}}]",
            "train.steps=6",
        ],
    )
    assert res.returncode == 2, res.stderr[-3000:]
    assert "stopped at step 3: rewards failed for more than 50% of the batch 2 steps in a row" in res.stderr
    assert "fault/error=8" in res.stderr
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-000002"]  # steps 0-2 done (2 skipped); step 3 is where it stopped
    assert [m["step"] for m in metrics(tmp_path / "run")] == [0, 1, 2]
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-000002" / "state.json").read_text())
    assert state["data_cursor"] == 3  # --resume (after fixing the reward) starts at the failed step
