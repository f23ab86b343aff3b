"""Whole `cotrl train` runs in a subprocess on the tiny model (cleanrl-style), and exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.rlhf.trainers.rl_helpers import recipe

TIMING = ("seconds", "time_", "tokens_per_second", "hw/")  # hw/: the machine, not the run


def _env(repo_root: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(repo_root),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    return env


def _train(repo_root: Path, args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlhf.cli.main", "train", *args],
        cwd=repo_root,
        env=_env(repo_root),
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _deterministic(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if not k.startswith(TIMING) and "latency" not in k}


@pytest.mark.slow
def test_grpo_e2e_writes_the_run_directory(tmp_path, repo_root):
    r = recipe(tmp_path, "grpo", "lora:\n  enabled: true\n  r: 4\nalgo:\n  kl_coef: 0.02\n")
    proc = _train(
        repo_root, [str(r), "train.steps=2", "model.gradient_checkpointing=true", "train.micro_batch_size=4"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    recs = _metrics(run)
    assert [m["step"] for m in recs] == [0, 1]
    for key in (
        "step",
        "reward_mean",
        "accuracy",
        "kl",
        "seconds",
        "entropy",
        "clip_frac",
        "response_len_mean",
        "truncated_frac",
        "zero_variance_frac",
        "tokens_per_second",
        "time_rollout",
        "time_reward",
        "time_update",
        "grad_norm",
    ):
        assert key in recs[-1], key
    assert recs[-1]["kl"] is not None and recs[-1]["kl"] >= 0
    assert (run / "config.resolved.yaml").is_file() and (
        run / "plots" / "training_curves.png"
    ).stat().st_size > 0
    assert (run / "adapter" / "adapter_model.safetensors").is_file() and not (run / "model").exists()
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert samples and {"completion", "outcome", "steps", "step"} <= set(samples[0])
    assert "rollout backend transformers" in proc.stderr


@pytest.mark.slow
def test_ppo_e2e_with_step_rewards(tmp_path, repo_root):
    extra = "  ppo_epochs: 2\n  mini_batches: 2\nalgo:\n  advantage: gae\n"
    r = recipe(tmp_path, "ppo", extra)
    r.write_text(
        r.read_text().replace(
            "rewards:\n  - name: tests.rlhf.trainers.rl_helpers:digit_share",
            "rewards:\n  - name: tests.rlhf.trainers.rl_helpers:digit_share\n  - name: tests.rlhf.trainers.rl_helpers:step_has_digit",
        )
    )
    proc = _train(repo_root, [str(r), "train.steps=2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = _metrics(tmp_path / "run")
    assert len(recs) == 2 and "value_loss" in recs[-1] and recs[-1]["step_accuracy"] is not None
    assert "adv_abs_mean" in recs[-1] and "adv_process_abs" not in recs[-1]  # gae is not made of parts
    assert (tmp_path / "run" / "critic.pt").is_file()
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert samples[0]["steps"] and "score" in samples[0]["steps"][0]


@pytest.mark.slow
def test_bad_batches_are_skipped_and_nan_losses_stop_the_run(tmp_path, repo_root):
    r = recipe(tmp_path, "grpo")
    none = _train(
        repo_root, [str(r), "rewards=[{name: 'tests.rlhf.trainers.rl_helpers:none_reward'}]", "train.steps=2"]
    )
    assert none.returncode == 0, none.stderr[-3000:]
    recs = _metrics(tmp_path / "run")
    assert [m.get("skipped") for m in recs] == ["all rewards unverifiable"] * 2
    # NaN rewards are masked by the reward guard; rewards whose group sum overflows still give a NaN loss
    nan = _train(
        repo_root,
        [
            str(r),
            "rewards=[{name: 'tests.rlhf.trainers.rl_helpers:huge_reward'}]",
            "train.steps=5",
            "train.max_bad_steps=2",
            "run.output_dir=" + str(tmp_path / "nan"),
        ],
    )
    assert nan.returncode == 2
    assert "2 steps in a row had a non-finite loss" in nan.stderr
    assert (tmp_path / "nan" / "checkpoints" / "step-000001" / "state.json").is_file()
    assert len(_metrics(tmp_path / "nan")) == 2


@pytest.mark.slow
def test_resume_after_kill_equals_an_unkilled_run(tmp_path, repo_root):
    """Kill a run mid-way (SIGKILL), resume it, and compare with a run that was never killed."""
    extra = "  mini_batches: 2\nlora:\n  enabled: true\n  r: 4\n  dropout: 0.1\nalgo:\n  kl_coef: 0.02\n"
    r = recipe(tmp_path, "grpo", extra)
    common = ["train.steps=8", "run.save_every=1", "run.keep_checkpoints=2"]
    full = _train(repo_root, [str(r), *common, f"run.output_dir={tmp_path / 'full'}"])
    assert full.returncode == 0, full.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    args = [sys.executable, "-m", "rlhf.cli.main", "train", str(r), *common, f"run.output_dir={killed_dir}"]
    proc = subprocess.Popen(
        args,
        cwd=repo_root,
        env=_env(repo_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while not (killed_dir / "checkpoints" / "step-000002" / "state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(_metrics(killed_dir))
    assert done_before < 8  # it really was killed mid-run

    resumed = _train(repo_root, [str(r), *common, f"run.output_dir={killed_dir}", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    a, b = _metrics(tmp_path / "full"), _metrics(killed_dir)
    assert [m["step"] for m in b] == list(range(8))
    assert [_deterministic(m) for m in a] == [_deterministic(m) for m in b]
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "full" / "adapter" / "adapter_model.safetensors")
    wb = load_file(killed_dir / "adapter" / "adapter_model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
