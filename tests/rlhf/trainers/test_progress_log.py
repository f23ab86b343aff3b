"""`cotrl train ... > log`: progress lines reach the log as steps happen, and no library bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rlhf.trainers.rl_helpers import recipe
from tests.rlhf.trainers.test_sft_trainer import ROWS

LIBRARY_BARS = ("it/s", "examples/s", "%|")


def _train_to_file(repo_root: Path, tmp_path: Path, args: list[str]) -> tuple[str, str]:
    """Run `cotrl train` with stdout redirected to a file (not a terminal); (stdout, stderr)."""
    out = tmp_path / "stdout.log"
    env = dict(
        os.environ,
        PYTHONPATH=str(repo_root),
        OMP_NUM_THREADS="1",
        COTRL_TEST_STDOUT=str(out),
        COTRL_TEST_PROBE=str(tmp_path / "probe.jsonl"),
    )
    with out.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "rlhf.cli.main", "train", *args],
            cwd=repo_root,
            env=env,
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out.read_text(), proc.stderr


@pytest.mark.slow
def test_grpo_progress_lines_reach_a_log_file_while_the_run_goes(tmp_path, repo_root):
    r = recipe(tmp_path, "grpo", "")
    text = r.read_text().replace("rl_helpers:digit_share", "rl_helpers:progress_probe")
    r.write_text(text)
    stdout, stderr = _train_to_file(repo_root, tmp_path, [str(r)])
    seen = [json.loads(x) for x in (tmp_path / "probe.jsonl").read_text().splitlines()]
    # the reward of step 2 ran after steps 0 and 1 finished: their lines were already in the file
    assert [line.split()[:2] for line in seen[2]] == [["grpo", "1/3"], ["grpo", "2/3"]]
    lines = stdout.splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["1/3", "2/3", "3/3"]
    assert all(" r=" in line for line in lines[:3])
    assert json.loads(lines[-1])["steps"] == 3
    assert not any(bar in stdout + stderr for bar in LIBRARY_BARS), stderr


@pytest.mark.slow
def test_sft_shows_one_progress_display_with_numbers_not_hugging_face_bars(tmp_path, repo_root):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    r = tmp_path / "sft.yaml"
    r.write_text(
        f"""trainer: sft
run: {{output_dir: {tmp_path / "run"}, device: cpu, log_every: 2}}
model: {{path: tiny}}
tiny: {{hidden_size: 64, num_heads: 1, num_layers: 1, intermediate_size: 128, vocab_size: 320}}
lora: {{enabled: true, r: 4}}
train: {{lr: 1.0e-2, cpu_threads: 1}}
sft: {{train_path: {data}, max_steps: 3, batch_size: 4, eval_max_items: 4, eval_max_new_tokens: 8, max_length: 64}}
"""
    )
    stdout, stderr = _train_to_file(repo_root, tmp_path, [str(r)])
    lines = stdout.splitlines()
    # run.log_every=2: step 2, then the last step; loss as a number, no transformers log dicts
    assert [line.split()[:2] for line in lines[:-1]] == [["sft", "2/3"], ["sft", "3/3"]]
    assert float(lines[0].split("loss=")[1].split()[0]) > 0
    assert "{'loss'" not in stdout and "train_runtime" not in stdout
    assert json.loads(lines[-1])["steps"] == 3
    assert not any(bar in stdout + stderr for bar in LIBRARY_BARS), stderr
