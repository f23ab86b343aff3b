"""The prm trainer end to end: the recipe through `cotrl train` in a subprocess, and file data with LoRA."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

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


# ----------------------------------------------------------------------------- the shared runtime


def prm_cfg(out, model, *overrides: str) -> RunConfig:
    raw = {
        "trainer": "prm",
        "run": {"output_dir": str(out), "device": "cpu", "log_every": 1},
        "model": {"path": str(model)},
        "train": {"lr": 1e-3},
        "prm": {"num_train": 12, "num_eval": 4, "epochs": 1, "batch_size": 8, "max_length": 96},
    }
    return config.from_dict(RunConfig, config.apply_overrides(raw, list(overrides)))


def _train(cfg: RunConfig, resume: bool = False) -> dict:
    from rlhf.trainers.prm import run

    return run(cfg, prepare_run_dir(cfg, cfg.run.output_dir, resume=resume))


def _metrics(out) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_max_grad_norm_is_honoured(tmp_path, tiny_model_dir):
    """0 only measures the norm (bit-identical to a huge limit); a tiny limit changes the update."""
    from tests.rlhf.trainers.runtime_helpers import same_weights, weights

    for name, norm in (("off", 0.0), ("huge", 1e9), ("tiny", 1e-7)):
        _train(prm_cfg(tmp_path / name, tiny_model_dir, f"train.max_grad_norm={norm}"))
    off, huge, tiny = (weights(tmp_path / n / "prm") for n in ("off", "huge", "tiny"))
    assert same_weights(off, huge) and not same_weights(off, tiny)
    norms = [r["grad_norm"] for r in _metrics(tmp_path / "tiny") if "grad_norm" in r]
    assert norms and all(n > 1e-3 for n in norms)  # logged before clipping
    assert (
        norms[0] == [r["grad_norm"] for r in _metrics(tmp_path / "off") if "grad_norm" in r][0]
    )  # same start


def test_a_non_finite_loss_skips_the_update_and_stops_after_max_bad_steps(tmp_path, nan_model_dir):
    from rlhf.models.policy import trainable_state_dict
    from rlhf.runtime.checkpoint import load_checkpoint
    from rlhf.runtime.optim import RunStopped
    from tests.rlhf.trainers.runtime_helpers import same_weights

    out = tmp_path / "nan"
    cfg = prm_cfg(out, nan_model_dir, "train.max_bad_steps=2", "prm.num_train=24")
    with pytest.raises(RunStopped, match=r"stopped at step 2: 2 steps in a row had a non-finite loss"):
        _train(cfg)
    assert [r.get("skipped") for r in _metrics(out) if "loss" in r] == ["non-finite loss"] * 2
    objects, state = load_checkpoint(out / "checkpoints" / "step-000002", ["trainable"])
    assert state["data_cursor"] == 2 and state["bad_steps"] == 2
    from rewards.prm.model import load_backbone

    torch.manual_seed(cfg.run.seed)  # the head is initialised from the seed, as in the run
    start = trainable_state_dict(load_backbone(nan_model_dir))
    body = {k: v for k, v in start.items() if not k.startswith("score")}
    assert same_weights({k: objects["trainable"][k] for k in body}, body)  # no update touched them
    assert not (out / "prm").exists()


def test_resume_continues_from_the_last_checkpoint_to_the_same_weights(tmp_path, tiny_model_dir):
    """What a kill between checkpoints leaves behind (no later checkpoint, no prm/), resumed, equals
    the unkilled run bit for bit (tests/faults/test_kill_resume.py kills a real process)."""
    import shutil

    from tests.rlhf.trainers.runtime_helpers import same_weights, weights

    extra = ("run.save_every=2", "lora.enabled=true", "lora.r=4", "prm.num_train=20", "prm.epochs=2")
    full = _train(prm_cfg(tmp_path / "full", tiny_model_dir, *extra))
    cut = tmp_path / "cut"
    _train(prm_cfg(cut, tiny_model_dir, *extra))
    last = sorted((cut / "checkpoints").iterdir())[-1]
    assert last.name == f"step-{full['steps']:06d}"
    shutil.rmtree(last)
    shutil.rmtree(cut / "prm")
    resumed = _train(prm_cfg(cut, tiny_model_dir, *extra), resume=True)
    assert resumed["steps"] == full["steps"] and resumed["f1"] == full["f1"]
    assert same_weights(weights(tmp_path / "full" / "prm"), weights(cut / "prm"))
    a, b = _metrics(tmp_path / "full"), _metrics(cut)
    assert [r["step"] for r in b if "loss" in r] == list(range(1, full["steps"] + 1))
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds" and not k.startswith("hw/")}  # noqa: E731
    assert [drop(r) for r in a] == [drop(r) for r in b]


def test_lora_adapter_path_continues_an_sft_adapter_under_the_prm_head(tmp_path, tiny_model_dir):
    """lora.adapter_path on a PRM: a causal-LM (SFT) adapter keeps its weights, the head is trainable."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rlhf.trainers.prm import load_model

    lm = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for n, p in lm.named_parameters():
            if "lora_B" in n:
                p.fill_(0.25)  # a trained adapter: B no longer zero
    lm.save_pretrained(tmp_path / "sft" / "adapter")
    cfg = prm_cfg(
        tmp_path / "run", tiny_model_dir, "lora.enabled=true", f"lora.adapter_path={tmp_path / 'sft'}"
    )
    model = load_model(cfg, str(tiny_model_dir))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any("score" in n for n in trainable) and any("lora_A" in n for n in trainable)
    assert all("lora_" in n or "score" in n for n in trainable)
    assert all(bool((p == 0.25).all()) for n, p in trainable.items() if "lora_B" in n)
    with pytest.raises(ValueError, match="lora.adapter_path is set but lora.enabled is false"):
        load_model(
            prm_cfg(tmp_path / "r2", tiny_model_dir, f"lora.adapter_path={tmp_path / 'sft'}"),
            str(tiny_model_dir),
        )
    bad = prm_cfg(
        tmp_path / "r3", tiny_model_dir, "lora.enabled=true", "lora.target_modules=[query_key_value]"
    )
    with pytest.raises(ValueError, match="'query_key_value' not in the model"):
        load_model(bad, str(tiny_model_dir))
    ckpt = prm_cfg(tmp_path / "r4", tiny_model_dir, "lora.enabled=true", "model.gradient_checkpointing=true")
    assert load_model(ckpt, str(tiny_model_dir)).get_base_model().is_gradient_checkpointing
