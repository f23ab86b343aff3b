"""The prm trainer end to end: the recipe through `cotrl train` in a subprocess, and file data with LoRA."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.runtime.rundir import prepare_run_dir

TINY = [
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=1",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=300",
]


@pytest.mark.slow
def test_recipe_runs_through_cotrl_train(repo_root, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "rlhf.cli.main",
        "train",
        str(repo_root / "recipes/prm_train.yaml"),
        f"run.output_dir={out}",
        "prm.num_train=24",
        "prm.num_eval=8",
        "prm.epochs=1",
        "prm.batch_size=8",
        "run.log_every=1",
        "prm.lm_coef=0.5",
        "prm.num_val=8",
        *TINY,
    ]
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (
        result["steps"] == 6
    )  # 24 items -> 48 rows (gold + corrupted) -> 6 batches of 8; validation items apart
    assert {
        "f1",
        "error_acc",
        "correct_acc",
        "step_acc",
        "threshold",
        "val_f1",
        "f1_at_fixed_threshold",
    } <= set(result)
    # the threshold was chosen on the 8 validation items and travels with the PRM
    assert 0 < result["threshold"] < 1 and 0 <= result["val_f1"] <= 1
    meta = json.loads((out / "prm" / "prm_config.json").read_text())
    assert meta["threshold"] == result["threshold"]
    assert (out / "tiny_model" / "tokenizer.json").is_file()  # the run's own tiny model
    assert (out / "prm" / "prm_config.json").is_file() and (out / "plots" / "prm_loss.png").is_file()
    ev = json.loads((out / "eval.json").read_text())
    assert ev["n_error"] == 8 and ev["n_correct"] == 8 and len(ev["examples"]) == 8
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == list(range(1, result["steps"] + 1))

    from rewards.registry import STEP_REWARDS
    from rewards.types import Problem, StepSpan

    reward = STEP_REWARDS.get("prm")(path=str(out / "prm"))
    p = Problem.from_dict(
        {"id": "x", "task": "integer_arithmetic", "prompt": "Compute 2 + 3.", "answer": "5"}
    )
    assert len(reward.score_steps([p], [[StepSpan(0, 1, "Add: 2 + 3 = 5")]])[0]) == 1


@pytest.mark.slow
def test_prm_on_policy_recipe_runs_as_written(repo_root, tmp_path, tiny_model_dir, capsys):
    """recipes/prm_on_policy.yaml with a tiny model standing in for the demo's policy."""
    from rlhf.cli.main import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(repo_root / "recipes/prm_on_policy.yaml"),
                f"run.output_dir={out}",
                f"model.path={tiny_model_dir}",
                "prm.num_train=16",
                "prm.num_val=4",
                "prm.num_eval=4",
                "prm.epochs=1",
                "prm.batch_size=8",
                "prm.eval_every=0",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 16 items -> gold + 1 to 4 distinct corrupted traces each (prm.corruptions: 4) -> 32..80 rows, batches of 8
    assert 4 <= result["steps"] <= 10 and result["val_f1"] is not None
    assert json.loads((out / "prm" / "prm_config.json").read_text())["threshold"] == result["threshold"]
    # without the demo's policy the recipe says which model is missing
    assert (
        main(
            [
                "train",
                str(repo_root / "recipes/prm_on_policy.yaml"),
                f"run.output_dir={tmp_path / 'r2'}",
                f"model.path={tmp_path / 'no_demo'}",
            ]
        )
        == 2
    )
    assert "no_demo': no such model directory" in capsys.readouterr().err


@pytest.mark.slow
def test_file_data_with_lora(tmp_path):
    rows = [
        {
            "problem": f"Compute {a} + {a}.",
            "steps": [f"Add: {a} + {a} = {2 * a + (k % 2)}"],
            "label": k % 2 - 1,
        }
        for k, a in enumerate(range(1, 41))
    ]
    data = tmp_path / "pb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {
        "trainer": "prm",
        "model": {"path": "tiny"},
        "lora": {"enabled": True, "r": 4, "alpha": 8},
        "run": {"output_dir": str(tmp_path / "run")},
        "prm": {
            "data": "file",
            "train_file": str(data),
            "format": "processbench",
            "eval_fraction": 0.25,
            "epochs": 1,
            "batch_size": 10,
            "num_val": 4,
        },
    }
    cfg = config.from_dict(RunConfig, config.apply_overrides(raw, TINY))
    from rlhf.trainers.prm import run

    result = run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert (
        result["steps"] == 3 and result["n_error"] + result["n_correct"] == 10
    )  # 30 - 4 validation rows left
    assert result["val_f1"] is not None
    from rewards.prm.model import PRMScorer

    scorer = PRMScorer.from_pretrained(tmp_path / "run" / "prm")  # LoRA merged into a plain PRM
    assert not any("lora_" in n for n, _ in scorer.model.named_parameters())
    with pytest.raises(ValueError, match="prm.num_val 30 leaves no training rows"):
        run(replace_prm(cfg, num_val=30), prepare_run_dir(cfg, tmp_path / "run2"))


def replace_prm(cfg: RunConfig, **changes) -> RunConfig:
    import dataclasses

    return dataclasses.replace(cfg, prm=dataclasses.replace(cfg.prm, **changes))


def test_prm_section_validation():
    with pytest.raises(config.ConfigError, match="prm.train_file"):
        config.from_dict(RunConfig, {"trainer": "prm", "prm": {"data": "file"}})
    with pytest.raises(config.ConfigError, match="prm.neutral"):
        config.from_dict(RunConfig, {"trainer": "prm", "prm": {"neutral": "maybe"}})
    with pytest.raises(config.ConfigError, match="prm.epochs"):
        config.from_dict(RunConfig, {"trainer": "prm", "prm": {"epochs": 0}})
    cfg = config.load(RunConfig, "recipes/prm_train.yaml")
    assert cfg.trainer == "prm" and cfg.model.path == "tiny"


def test_resume_is_refused_clearly(tmp_path):
    cfg = config.from_dict(RunConfig, {"trainer": "prm", "run": {"output_dir": str(tmp_path / "r")}})
    prepare_run_dir(cfg, cfg.run.output_dir)
    from rlhf.trainers.prm import run

    with pytest.raises(ValueError, match="--overwrite"):
        run(cfg, prepare_run_dir(cfg, cfg.run.output_dir, resume=True))
