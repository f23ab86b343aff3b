"""Asynchronous GRPO under kill -9: the sampler thread runs a step ahead of the trainer, so a kill
leaves drawn-but-untrained steps behind. After --resume every step is trained exactly once, on
the prompts the unkilled run drew for it, even while the curriculum moves the level every step
(the draws of steps in flight are drawn with levels that the checkpoint must carry)."""

from __future__ import annotations

import signal

import pytest

from rlhf.runtime.checkpoint import latest_checkpoint
from tests.faults.common import metrics, train

STEPS = 6
COMMON = [f"train.steps={STEPS}", "run.save_every=2", "run.keep_checkpoints=2"]


def _recipe(tmp):
    text = f"""trainer: grpo
run:
  output_dir: {tmp / "unused"}
  seed: 3
  device: cpu
model:
  path: tiny
tiny:
  hidden_size: 64
  num_heads: 1
  num_layers: 1
  intermediate_size: 128
  vocab_size: 320
data:
  source: generators
  tasks:
    - {{name: integer_arithmetic}}
  prompts_per_step: 2
  curriculum:
    enabled: true
    window: 1
    start_level: 8
rollout:
  backend: transformers
  n: 4
  max_new_tokens: 12
rewards:
  - name: math_answer
algo:
  tis_cap: 2.0
train:
  lr: 1.0e-3
  cpu_threads: 1
  async:
    enabled: true
"""
    path = tmp / "recipe.yaml"
    path.write_text(text)
    return path


def _trained(run):
    """(step, prompts digest, level after the step) per logged step."""
    return [(m["step"], m["prompts_digest"], m["level/integer_arithmetic"]) for m in metrics(run)]


@pytest.mark.slow
def test_async_killed_in_each_phase_trains_every_prompt_once(tmp_path, repo_root):
    r = _recipe(tmp_path)
    full = train(repo_root, [str(r), *COMMON, f"run.output_dir={tmp_path / 'full'}"])
    assert full.returncode == 0, full.stderr[-3000:]
    want = _trained(tmp_path / "full")
    assert [s for s, _, _ in want] == list(range(STEPS))
    levels = [lv for _, _, lv in want]
    assert levels == sorted(levels, reverse=True) and len(set(levels)) == STEPS  # it moved every step

    run = tmp_path / "killed"
    plan = [  # (kill point, the checkpoint left behind); checkpoints follow steps 1, 3, 5
        ("rollout:3", "step-000001"),  # on the sampler thread, sampling step 3 while step 2 trains
        ("update:4", "step-000003"),
        ("checkpoint:5", "step-000003"),
    ]
    for i, (point, expect) in enumerate(plan):
        args = [str(r), *COMMON, f"run.output_dir={run}"] + (["--resume"] if i else [])
        res = train(repo_root, args, COTRL_KILL_AT=point)
        assert res.returncode == -signal.SIGKILL, (point, res.stderr[-2000:])
        assert latest_checkpoint(run / "checkpoints").name == expect, point
    done = train(repo_root, [str(r), *COMMON, f"run.output_dir={run}", "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(next step 4)" in done.stderr
    assert _trained(run) == want  # each step once, same prompts, same curriculum path


def _sampler_child(pid: int) -> int | None:
    """The pid of `pid`'s spawned sampler process (not multiprocessing's resource tracker), if any."""
    from pathlib import Path

    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                return int(child)
    return None


@pytest.mark.slow
def test_sampler_process_killed_mid_run_stops_with_one_line_then_resumes(tmp_path, repo_root):
    import os
    import subprocess
    import sys
    import time

    from tests.faults.common import env

    r = _recipe(tmp_path)
    run = tmp_path / "run"
    args = [str(r), "train.steps=60", "faults.rollout_timeout_s=60", f"run.output_dir={run}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlhf.cli.main", "train", *args],
        cwd=repo_root,
        env=env(repo_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    child, deadline = None, time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        child = child or _sampler_child(proc.pid)
        if child and len(metrics(run)) >= 2:
            os.kill(child, signal.SIGKILL)
            break
        time.sleep(0.01)
    t0 = time.time()
    _, err = proc.communicate(timeout=120)
    assert child is not None and proc.returncode == 2, err[-2000:]
    assert time.time() - t0 < 60
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1 and "the rollout sampler process died (exit code -9)" in lines[0], err[-2000:]
    step = int(lines[0].split("stopped at step ")[1].split(":")[0])
    assert latest_checkpoint(run / "checkpoints").name == f"step-{step - 1:06d}"
    done = train(repo_root, [*args, "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"(next step {step})" in done.stderr
    assert [m["step"] for m in metrics(run)] == list(range(60))
