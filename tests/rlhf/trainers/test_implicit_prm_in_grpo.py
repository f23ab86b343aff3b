"""The implicit PRM inside GRPO: it scores each step's token span, learns from the batch's outcome
labels after scoring (one update per RL step), and its state is part of every checkpoint, so a
run cut after a checkpoint and resumed ends with the same policy as one never cut."""

from __future__ import annotations

import json
import shutil

import torch

from rlhf.runtime.rundir import prepare_run_dir
from rlhf.trainers import TRAINERS
from rlhf.trainers.checks import load_recipe
from tests.rlhf.trainers.rl_helpers import recipe
from tests.rlhf.trainers.runtime_helpers import same_weights, weights


def _run(tmp_path, model_dir, name: str, *overrides: str, resume: bool = False) -> None:
    cfg = load_recipe(
        recipe(tmp_path),
        [
            f"run.output_dir={tmp_path / name}",
            f"model.path={model_dir}",
            "rewards=[{name: 'tests.rlhf.trainers.rl_helpers:digit_share'}, "
            f"{{name: implicit_prm, params: {{path: {model_dir}, beta: 0.5, lr: 0.01}}}}]",
            "algo.advantage=mixed",
            "rollout.max_new_tokens=24",
            "train.cpu_threads=1",
            *overrides,
        ],
    )
    TRAINERS.get("grpo")(cfg, prepare_run_dir(cfg, cfg.run.output_dir, resume=resume))


def test_implicit_prm_learns_online_and_resumes_exactly(tmp_path, tiny_model_dir):
    common = ("train.steps=3", "run.save_every=1", "run.keep_checkpoints=3")
    _run(tmp_path, tiny_model_dir, "full", *common)
    metrics = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "step_reward/implicit_prm/updates" in m]
    assert [m["step_reward/implicit_prm/updates"] for m in steps] == [1.0, 2.0, 3.0]
    assert all(m["step_reward/implicit_prm/loss"] > 0 for m in steps)
    # the first step scores with the untrained reward model (pi_phi == pi_ref): every step reward 0
    assert steps[0]["step_reward/implicit_prm/mean"] == 0.0
    assert any(abs(m["step_reward/implicit_prm/mean"]) > 0 for m in steps[1:])
    ck = tmp_path / "full" / "checkpoints"
    state = torch.load(ck / "step-000002" / "reward_state.pt", weights_only=False)
    assert state["implicit_prm"]["updates"] == 3

    _run(tmp_path, tiny_model_dir, "cut", *common)
    cut = tmp_path / "cut"
    shutil.rmtree(cut / "checkpoints" / "step-000002")  # what a kill during step 2 leaves
    shutil.rmtree(cut / "model")
    _run(tmp_path, tiny_model_dir, "cut", *common, resume=True)
    assert same_weights(weights(tmp_path / "full" / "model"), weights(cut / "model"))
    again = torch.load(cut / "checkpoints" / "step-000002" / "reward_state.pt", weights_only=False)
    a, b = state["implicit_prm"]["model"], again["implicit_prm"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
