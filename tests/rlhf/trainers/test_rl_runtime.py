"""GRPO and PPO on the shared runtime, in process: `train.max_grad_norm` is honoured, a non-finite
loss is skipped and stops the run after `train.max_bad_steps`, and `--resume` continues exactly.
(Subprocess runs with SIGKILL are in test_rl_e2e.py and tests/faults/.)"""

from __future__ import annotations

import shutil

import pytest

from rlhf.runtime.optim import RunStopped
from rlhf.runtime.rundir import prepare_run_dir
from rlhf.trainers import TRAINERS
from rlhf.trainers.checks import load_recipe
from tests.rlhf.trainers.rl_helpers import recipe
from tests.rlhf.trainers.runtime_helpers import same_weights, weights

PPO = "  ppo_epochs: 2\n  mini_batches: 2\nalgo:\n  advantage: gae\n"


def _run(tmp_path, trainer: str, name: str, *overrides: str, resume: bool = False) -> dict:
    r = recipe(tmp_path, trainer, PPO if trainer == "ppo" else "")
    cfg = load_recipe(r, [f"run.output_dir={tmp_path / name}", "train.cpu_threads=1", *overrides])
    return TRAINERS.get(trainer)(cfg, prepare_run_dir(cfg, cfg.run.output_dir, resume=resume))


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["grpo", "ppo"])
def test_max_grad_norm_is_honoured(tmp_path, trainer):
    """0 only measures the norm (bit-identical to a huge limit); a tiny limit changes the update."""
    for name, norm in (("off", 0.0), ("huge", 1e9), ("tiny", 1e-7)):
        _run(tmp_path, trainer, name, "train.steps=1", f"train.max_grad_norm={norm}")
    off, huge, tiny = (weights(tmp_path / n / "model") for n in ("off", "huge", "tiny"))
    assert same_weights(off, huge) and not same_weights(off, tiny)


@pytest.mark.parametrize("trainer", ["grpo", "ppo"])
def test_a_non_finite_loss_skips_updates_and_stops_the_run(tmp_path, trainer):
    """Rewards within float32 whose group sum overflows give a NaN loss on every step."""
    out = tmp_path / "nan"
    with pytest.raises(RunStopped, match=r"stopped at step 1: 2 steps in a row had a non-finite loss"):
        _run(
            tmp_path,
            trainer,
            "nan",
            "rewards=[{name: 'tests.rlhf.trainers.rl_helpers:huge_reward'}]",
            "train.steps=4",
            "train.max_bad_steps=2",
        )
    assert (out / "checkpoints" / "step-000001" / "state.json").is_file()
    from tests.faults.common import metrics

    assert [m["skipped_updates"] for m in metrics(out)] == [4.0 if trainer == "ppo" else 1.0] * 2


@pytest.mark.slow
def test_ppo_resume_continues_to_the_same_weights(tmp_path):
    """A PPO run cut after its step-1 checkpoint (what a kill leaves) and resumed equals an unkilled one."""
    common = ("train.steps=3", "run.save_every=1", "run.keep_checkpoints=3")
    _run(tmp_path, "ppo", "full", *common)
    _run(tmp_path, "ppo", "cut", *common)
    cut = tmp_path / "cut"
    shutil.rmtree(cut / "checkpoints" / "step-000002")
    shutil.rmtree(cut / "model")
    _run(tmp_path, "ppo", "cut", *common, resume=True)
    assert same_weights(weights(tmp_path / "full" / "model"), weights(cut / "model"))
    import torch

    a = torch.load(tmp_path / "full" / "critic.pt")
    b = torch.load(cut / "critic.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
