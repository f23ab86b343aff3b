"""PPO killed mid-run and resumed: the critic and its optimizer come back from the checkpoint
(`critic.pt`, `critic_optimizer.pt`), so the resumed run's steps, policy and critic equal an
unkilled run's."""

from __future__ import annotations

import signal

import pytest
import torch

from rlhf.runtime.checkpoint import latest_checkpoint
from tests.faults.common import deterministic, metrics, train
from tests.rlhf.trainers.rl_helpers import recipe

STEPS = 4
COMMON = [f"train.steps={STEPS}", "run.save_every=2", "train.mini_batches=2", "algo.advantage=gae"]


@pytest.mark.slow
def test_ppo_killed_then_resumed_equals_an_unkilled_run(tmp_path, repo_root):
    r = recipe(tmp_path, "ppo", "  cpu_threads: 1\n")
    full = train(repo_root, [str(r), *COMMON, f"run.output_dir={tmp_path / 'full'}"])
    assert full.returncode == 0, full.stderr[-3000:]

    run = tmp_path / "killed"
    killed = train(repo_root, [str(r), *COMMON, f"run.output_dir={run}"], COTRL_KILL_AT="update:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    latest = latest_checkpoint(run / "checkpoints")
    assert latest is not None and latest.name == "step-000001"
    assert (latest / "critic.pt").is_file() and (latest / "critic_optimizer.pt").is_file()

    done = train(repo_root, [str(r), *COMMON, f"run.output_dir={run}", "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(next step 2)" in done.stderr
    a, b = metrics(tmp_path / "full"), metrics(run)
    assert [m["step"] for m in b] == list(range(STEPS)) and "value_loss" in b[-1]
    assert [deterministic(m) for m in a] == [deterministic(m) for m in b]
    ca = torch.load(tmp_path / "full" / "critic.pt", weights_only=True)
    cb = torch.load(run / "critic.pt", weights_only=True)
    assert ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)
