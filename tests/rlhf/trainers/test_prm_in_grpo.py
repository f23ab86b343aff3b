"""A learned PRM as the step reward inside GRPO: trained by `trainer: prm` on data_gen's
error-injection traces with the policy's own model as backbone, named in `rewards:` as `prm`,
and its scores reach the per-token advantages (no rule verifier anywhere in the loop)."""

from __future__ import annotations

import json

import pytest
import torch

from rewards.registry import STEP_REWARDS
from rlhf.algos import ADVANTAGES
from rlhf.runtime.rundir import prepare_run_dir
from rlhf.trainers import TRAINERS
from rlhf.trainers.checks import load_recipe
from rlhf.trainers.rl import common as rc
from tests.rlhf.trainers.rl_helpers import recipe


@pytest.fixture(scope="module")
def prm_dir(tiny_model_dir, repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("prm") / "run"
    cfg = load_recipe(
        repo_root / "recipes" / "prm_on_policy.yaml",
        [
            f"run.output_dir={out}",
            "run.device=cpu",
            f"model.path={tiny_model_dir}",
            "prm.knobs={min_operands: 5, max_operands: 5, max_digits: 1}",
            "prm.num_train=16",
            "prm.num_val=4",
            "prm.num_eval=4",
            "prm.corruptions=1",
            "prm.epochs=1",
            "prm.batch_size=8",
            "train.cpu_threads=1",
        ],
    )
    TRAINERS.get("prm")(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert (out / "prm" / "prm_config.json").is_file()
    return out / "prm"


def _cfg(tmp_path, tiny_model_dir, prm_dir, name: str, steps: int = 1):
    return load_recipe(
        recipe(tmp_path),
        [
            f"run.output_dir={tmp_path / name}",
            f"model.path={tiny_model_dir}",
            f"rewards=[{{name: prm, params: {{path: {prm_dir}}}}}]",
            "algo.advantage=process_grpo",
            "algo.step_norm=count",
            "rollout.max_new_tokens=24",
            f"train.steps={steps}",
            "train.cpu_threads=1",
        ],
    )


@pytest.mark.slow
def test_prm_scores_flow_into_per_token_advantages(tmp_path, tiny_model_dir, prm_dir):
    cfg = _cfg(tmp_path, tiny_model_dir, prm_dir, "collect")
    rl = rc.setup(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    col = rc.collect(rl, 0)
    batch = col.batch
    assert batch is not None and batch.step_mask is not None and batch.step_mask.any()
    # the batch carries exactly what the PRM says about each rollout's steps
    prm = STEP_REWARDS.get("prm")(path=str(prm_dir))
    expected = prm.score_steps(col.problems, [list(r.steps) for r in col.rollouts])
    got = [[s.score for s in r.steps] for r in col.rollouts]
    for e_row, g_row in zip(expected, got):
        assert g_row == pytest.approx(e_row, abs=1e-5)
    assert all(0.0 < s < 1.0 for row in got for s in row if s is not None)
    carried = batch.step_rewards[batch.step_mask > 0]
    assert carried.tolist() == pytest.approx([s for row in got for s in row if s is not None], abs=1e-5)
    # ... and the advantages are built from them: different PRM scores, different advantages
    adv = ADVANTAGES.get("process_grpo")(batch, cfg.algo)
    assert torch.isfinite(adv).all() and adv.abs().sum() > 0
    flipped = batch.select(torch.arange(batch.num_rollouts))
    flipped.step_rewards = 1.0 - batch.step_rewards
    assert torch.allclose(ADVANTAGES.get("process_grpo")(flipped, cfg.algo), -adv, atol=1e-5)


@pytest.mark.slow
def test_grpo_with_the_prm_step_reward_runs(tmp_path, tiny_model_dir, prm_dir):
    cfg = _cfg(tmp_path, tiny_model_dir, prm_dir, "run", steps=2)
    run_dir = prepare_run_dir(cfg, cfg.run.output_dir)
    TRAINERS.get("grpo")(cfg, run_dir)
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "zero_variance_frac" in m]
    assert len(steps) == 2 and all(m["zero_variance_frac"] < 1.0 for m in steps)  # PRM scores vary
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    scores = [s["score"] for r in samples for s in r["steps"]]
    assert scores and all(s is not None and 0.0 < s < 1.0 for s in scores)
