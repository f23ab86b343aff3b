"""kill -9 in every phase of a run (rollout, reward, update, checkpoint writing), then --resume:
at most the steps since the last checkpoint are lost, a half-written checkpoint is never
picked up, and the resumed run's steps and final weights equal an unkilled run's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from rlhf.runtime.checkpoint import latest_checkpoint
from tests.faults.common import deterministic, env, metrics, train
from tests.rlhf.trainers.rl_helpers import recipe

STEPS = 6
COMMON = [f"train.steps={STEPS}", "run.save_every=2", "run.keep_checkpoints=2", "train.mini_batches=2"]


@pytest.fixture(scope="module")
def unkilled(tmp_path_factory, repo_root):
    """The recipe and a run of it that nobody killed (shared by both tests)."""
    tmp = tmp_path_factory.mktemp("kill")
    r = recipe(tmp, "grpo", "  cpu_threads: 1\n")
    full = train(repo_root, [str(r), *COMMON, f"run.output_dir={tmp / 'full'}"])
    assert full.returncode == 0, full.stderr[-3000:]
    return r, tmp / "full"


def _weights(run):
    from safetensors.torch import load_file

    return load_file(run / "model" / "model.safetensors")


@pytest.mark.slow
def test_killed_in_each_phase_then_resumed_equals_an_unkilled_run(tmp_path, repo_root, unkilled):
    r, full = unkilled

    run = tmp_path / "killed"
    ckpts = run / "checkpoints"
    # (kill point, the checkpoint the resume must start from); checkpoints are written after steps 1, 3, 5
    plan = [
        ("update:2", "step-000001"),
        ("reward:3", "step-000001"),
        ("checkpoint:3", "step-000001"),
        ("rollout:4", "step-000003"),
    ]
    first = True
    for point, expect in plan:
        args = [str(r), *COMMON, f"run.output_dir={run}"] + ([] if first else ["--resume"])
        res = train(repo_root, args, COTRL_KILL_AT=point)
        first = False
        assert res.returncode == -signal.SIGKILL, (point, res.stderr[-2000:])
        killed_step = int(point.split(":")[1])
        logged = max(m["step"] for m in metrics(run))  # the checkpoint is written after the step's metrics
        assert logged == killed_step if point.startswith("checkpoint") else logged < killed_step
        latest = latest_checkpoint(ckpts)
        assert latest is not None and latest.name == expect, (point, latest)
        assert killed_step - (int(latest.name[5:]) + 1) < 2  # lost at most the steps since that checkpoint
        if point.startswith("checkpoint"):
            partial = [p for p in ckpts.iterdir() if p.name.startswith(".step-000003.")]
            assert partial and not (partial[0] / "state.json").exists()  # half written, and left there
            assert list(partial[0].iterdir())  # it really had started writing

    done = train(repo_root, [str(r), *COMMON, f"run.output_dir={run}", "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(next step 4)" in done.stderr
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")]  # leftovers pruned
    a, b = metrics(full), metrics(run)
    assert [m["step"] for m in b] == list(range(STEPS))
    assert [deterministic(m) for m in a] == [deterministic(m) for m in b]
    wa, wb = _weights(full), _weights(run)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_killed_from_outside_at_a_random_moment(tmp_path, repo_root, unkilled):
    """SIGKILL from another process at a random moment after training started, then finish;
    the seed is printed so a failure can be replayed (COTRL_FAULT_SEED)."""
    seed = int(os.environ.get("COTRL_FAULT_SEED", time.time_ns() % 10_000))
    print(f"COTRL_FAULT_SEED={seed}")
    rng = random.Random(seed)
    r, full = unkilled
    common = COMMON
    run = tmp_path / "killed"
    kills = 0
    for attempt in range(3):
        args = [sys.executable, "-m", "rlhf.cli.main", "train", str(r), *common, f"run.output_dir={run}"]
        args += ["--resume"] if attempt else []
        proc = subprocess.Popen(
            args,
            cwd=repo_root,
            env=env(repo_root),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if attempt < 1:
            # a random moment: after a random number of finished steps, plus a random fraction of a step
            target = rng.randint(1, STEPS - 2)
            deadline = time.time() + 120
            while len(metrics(run)) < target and proc.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
    assert proc.returncode == 0 and kills >= 1
    a, b = metrics(full), metrics(run)
    assert [m["step"] for m in b] == list(range(STEPS))
    assert [deterministic(m) for m in a] == [deterministic(m) for m in b]
    wa, wb = _weights(full), _weights(run)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


PRM_COMMON = [
    "prm.num_train=24",
    "prm.num_eval=4",
    "prm.epochs=2",
    "prm.batch_size=8",
    "prm.max_length=96",
    "run.save_every=2",
    "run.keep_checkpoints=2",
    "run.log_every=1",
    "train.cpu_threads=1",
    "lora.enabled=true",  # adapter + head in the checkpoint, lora dropout drawing from the restored RNG
    "lora.r=4",
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=1",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=320",
]


@pytest.mark.slow
def test_prm_killed_then_resumed_equals_an_unkilled_run(tmp_path, repo_root):
    """The prm trainer on the shared runtime: SIGKILL in an update and mid-checkpoint, then --resume,
    gives the unkilled run's metrics and bit-identical final PRM weights."""
    from safetensors.torch import load_file

    recipe_path = str(repo_root / "recipes" / "prm_train.yaml")
    full = train(repo_root, [recipe_path, *PRM_COMMON, f"run.output_dir={tmp_path / 'full'}"])
    assert full.returncode == 0, full.stderr[-3000:]
    steps = max(m["step"] for m in metrics(tmp_path / "full") if "loss" in m)
    assert steps >= 10

    run = tmp_path / "killed"
    # (kill point, the checkpoint the resume must start from); `update:S` dies in batch S + 1
    plan = [("update:5", "step-000004"), ("checkpoint:8", "step-000006")]
    for i, (point, expect) in enumerate(plan):
        args = [recipe_path, *PRM_COMMON, f"run.output_dir={run}"] + (["--resume"] if i else [])
        res = train(repo_root, args, COTRL_KILL_AT=point)
        assert res.returncode == -signal.SIGKILL, (point, res.stderr[-2000:])
        latest = latest_checkpoint(run / "checkpoints")
        assert latest is not None and latest.name == expect, (point, latest)
    done = train(repo_root, [recipe_path, *PRM_COMMON, f"run.output_dir={run}", "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(next step 7)" in done.stderr
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # leftovers pruned
    a, b = metrics(tmp_path / "full"), metrics(run)
    assert [m["step"] for m in b if "loss" in m] == list(range(1, steps + 1))
    assert [deterministic(m) for m in a] == [deterministic(m) for m in b]
    wa, wb = (load_file(d / "prm" / "model.safetensors") for d in (tmp_path / "full", run))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
