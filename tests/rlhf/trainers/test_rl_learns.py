"""GRPO moves the policy toward higher reward: the sign and placement of the whole chain
(rewards -> advantages -> loss -> optimizer -> sampler sync) checked on a real run.

The random tiny model writes random text; the reward is the share of digit characters,
which varies across samples. A correct loop raises it within a few dozen steps; a sign
error, misaligned logprobs or a stale sampler would leave it flat or push it down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.rlhf.trainers.rl_helpers import recipe


@pytest.mark.slow
def test_grpo_raises_its_reward(tmp_path, repo_root):
    r = recipe(tmp_path, "grpo", "algo:\n  advantage: grpo\n  kl_coef: 0.0\n")
    env = dict(os.environ, PYTHONPATH=str(repo_root), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlhf.cli.main",
            "train",
            str(r),
            "train.steps=30",
            "train.lr=3e-3",
            "data.prompts_per_step=4",
            "rollout.n=8",
            "train.warmup_steps=0",
            "run.save_every=0",
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rewards = [
        json.loads(x)["reward_mean"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > 2 * first and last > first + 0.05, (
        f"digit share did not rise: first steps {rewards[:5]}, last steps {rewards[-5:]}"
    )
