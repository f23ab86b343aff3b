"""Asynchronous GRPO (`train.async`): settings, versions and staleness, dropped samples, and a
sampler (process or thread) that dies or stalls mid-run: the run ends with a checkpoint and one line."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch

from rlhf.config.loader import ConfigError, to_dict
from rlhf.rollout.async_sampler import THREAD_NAME, Result
from rlhf.rollout.hf import HFSampler
from rlhf.runtime.checkpoint import latest_checkpoint
from rlhf.runtime.rundir import prepare_run_dir
from rlhf.trainers.checks import load_recipe
from rlhf.trainers.rl import async_loop
from rlhf.trainers.rl import common as rc
from rlhf.trainers.rl.grpo import run
from tests.faults.common import deterministic
from tests.rlhf.trainers.rl_helpers import recipe

ASYNC = "  cpu_threads: 1\n  async:\n    enabled: true\nalgo:\n  tis_cap: 2.0\n"


def _cfg(tmp_path, extra=ASYNC, overrides=()):
    return load_recipe(recipe(tmp_path, "grpo", extra), [f"run.output_dir={tmp_path / 'run'}", *overrides])


def _metrics(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]


def test_the_yaml_key_is_async(tmp_path):
    cfg = _cfg(tmp_path, overrides=["train.async.max_staleness=2"])
    assert cfg.train.async_.enabled and cfg.train.async_.max_staleness == 2
    assert to_dict(cfg)["train"]["async"] == {"enabled": True, "max_staleness": 2, "sampler": "process"}
    with pytest.raises(ConfigError, match="unknown key 'train.async_'"):
        _cfg(tmp_path, overrides=["train.async_.enabled=true"])
    with pytest.raises(ConfigError, match="train.async.max_staleness must be >= 1, got 0"):
        _cfg(tmp_path, overrides=["train.async.max_staleness=0"])
    with pytest.raises(ConfigError, match="faults.rollout_timeout_s must be > 0"):
        _cfg(tmp_path, overrides=["faults.rollout_timeout_s=0"])


def test_settings_async_cannot_honour_are_refused(tmp_path):
    with pytest.raises(ValueError, match="needs algo.tis_cap"):
        async_loop.check(_cfg(tmp_path, overrides=["algo.tis_cap=null"]))
    with pytest.raises(ValueError, match="train.dynamic_sampling"):
        async_loop.check(_cfg(tmp_path, overrides=["train.dynamic_sampling=true"]))
    with pytest.raises(ValueError, match="train.async"):  # ppo does not read it
        load_recipe(recipe(tmp_path, "ppo", "  async:\n    enabled: true\n"), [])


def test_thread_split_gives_each_side_half_the_cores(tmp_path):
    cfg = _cfg(tmp_path, overrides=["train.cpu_threads=auto"])
    assert async_loop.thread_split(cfg, 2) == (1, 1)
    assert async_loop.thread_split(cfg, 1) == (1, 1)
    assert async_loop.thread_split(cfg, 5) == (2, 3)
    assert async_loop.thread_split(_cfg(tmp_path, overrides=["train.cpu_threads=2"]), 2) == (2, 2)


def test_stale_marks_samples_beyond_the_limit():
    assert async_loop.stale([3, 2, 1, 0], 3, 1) == [False, False, True, True]
    assert async_loop.stale([3, 2, 1, 0], 3, 2) == [False, False, False, True]


@pytest.mark.slow
@pytest.mark.parametrize(("ahead", "kind", "lora"), [(1, "process", False), (2, "thread", True)])
def test_each_step_trains_on_the_version_max_staleness_behind(tmp_path, ahead, kind, lora):
    over = ["train.steps=5", f"train.async.max_staleness={ahead}", f"train.async.sampler={kind}"]
    cfg = _cfg(tmp_path, overrides=over + (["lora.enabled=true", "lora.r=4"] if lora else []))
    run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    recs = _metrics(tmp_path / "run")
    assert [m["step"] for m in recs] == list(range(5))
    assert [m["policy_version"] for m in recs] == [max(0, s - ahead) for s in range(5)]
    assert [m["staleness_max"] for m in recs] == [min(s, ahead) for s in range(5)]
    assert all(m["async_dropped"] == 0 for m in recs)
    assert all(m["sync_probe_max_abs_diff"] == 0.0 for m in recs if "sync_probe_max_abs_diff" in m)
    later = recs[ahead:]  # sampled by an older policy: the ratio pi_old / pi_sampler moves off 1
    assert any(abs(m["is_ratio_mean"] - 1) > 1e-4 for m in later) and all(
        m["is_ratio_max"] > 1 for m in later
    )
    assert all(0 <= m["is_clipped_frac"] <= 1 for m in recs)
    assert max(m["overlap_frac"] for m in recs[:-1]) > 0  # the sampler ran while the trainer did


@pytest.mark.slow
def test_same_recipe_same_run(tmp_path):
    """The sampler loads exactly the version it is told, so timing cannot change a run, and the
    process and thread samplers give the same run."""
    out = []
    for name in ("process", "thread"):
        cfg = _cfg(
            tmp_path,
            overrides=["train.steps=4", f"run.output_dir={tmp_path / name}", f"train.async.sampler={name}"],
        )
        run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
        out.append([deterministic(m) for m in _metrics(tmp_path / name)])
        assert not [p for p in multiprocessing.active_children() if p.name == "cotrl-sampler"]  # reaped
    assert out[0] == out[1]


def test_samples_too_stale_are_dropped_counted_and_resampled(tmp_path):
    cfg = _cfg(tmp_path)
    rl = rc.setup(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    pipe = async_loop.Pipeline(rl, threads=1)
    try:
        pipe.start(0)
        draw, res = pipe.take(0)
        old = Result(step=3, version=1, completions=res.completions, started=0.0, finished=0.1, probe=None)
        col, info = async_loop.collect(rl, 3, draw, old)  # version 1 at step 3: two behind, limit 1
        assert info["async_dropped"] == len(col.rollouts) == cfg.data.prompts_per_step * cfg.rollout.n
        assert info["policy_version"] == 3 and info["staleness_max"] == 0
        fresh = HFSampler(rl.unwrapped, rl.policy.tokenizer).generate(
            draw.prompts, async_loop.sampling_params(rl, 3)
        )
        assert [r.completion_ids for r in col.rollouts] == [c.token_ids for g in fresh for c in g]
        kept, info = async_loop.collect(rl, 2, draw, old)  # one behind: kept
        assert info["async_dropped"] == 0 and info["staleness_max"] == 1 and info["policy_version"] == 1
        assert [r.completion_ids for r in kept.rollouts] == [c.token_ids for g in res.completions for c in g]
    finally:
        pipe.close()


def _kill_sampler_when_running(ready: threading.Event) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [t for t in threading.enumerate() if t.name == THREAD_NAME]
        if found and ready.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(found[0].ident), ctypes.py_object(SystemExit)
            )
            return
        time.sleep(0.001)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_killed_sampler_thread_ends_the_run_with_a_checkpoint(tmp_path, monkeypatch):
    cfg = _cfg(
        tmp_path, overrides=["train.steps=6", "faults.rollout_timeout_s=30", "train.async.sampler=thread"]
    )
    ready = threading.Event()
    inner = HFSampler.generate

    def generate(self, prompts, params):  # from the sampler's third job on, the killer may strike
        if (
            threading.current_thread().name == THREAD_NAME
            and params.seed == async_loop.sampling_params(rl_probe[0], 3).seed
        ):
            ready.set()
            time.sleep(0.2)  # mid-job: the exception lands here or in the decode loop after it
        return inner(self, prompts, params)

    rl_probe = []
    real_setup = rc.setup

    def setup(*a, **kw):
        rl_probe.append(real_setup(*a, **kw))
        return rl_probe[0]

    monkeypatch.setattr(rc, "setup", setup)
    monkeypatch.setattr(HFSampler, "generate", generate)
    killer = threading.Thread(target=_kill_sampler_when_running, args=(ready,), daemon=True)
    killer.start()
    t0 = time.monotonic()
    with pytest.raises(
        async_loop.RolloutFailure, match="stopped at step 3: the rollout sampler thread died"
    ) as err:
        run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert time.monotonic() - t0 < 30
    assert "\n" not in str(err.value) and "--resume reruns step 3" in str(err.value)
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step-000002"
    assert [m["step"] for m in _metrics(tmp_path / "run")] == [0, 1, 2]


@pytest.mark.slow
def test_stalled_sampler_ends_the_run_within_the_timeout(tmp_path, monkeypatch):
    cfg = _cfg(
        tmp_path, overrides=["train.steps=6", "faults.rollout_timeout_s=1.5", "train.async.sampler=thread"]
    )
    inner = HFSampler.generate
    stall = threading.Event()
    seed2 = []

    def generate(self, prompts, params):  # the sampler's job for step 2 never returns
        if threading.current_thread().name == THREAD_NAME and params.seed == seed2[0]:
            stall.wait(120)
        return inner(self, prompts, params)

    real_setup = rc.setup

    def setup(*a, **kw):
        rl = real_setup(*a, **kw)
        seed2.append(async_loop.sampling_params(rl, 2).seed)
        return rl

    monkeypatch.setattr(rc, "setup", setup)
    monkeypatch.setattr(HFSampler, "generate", generate)
    t0 = time.monotonic()
    try:
        with pytest.raises(async_loop.RolloutFailure, match=r"step 2: .*produced nothing for 1.5 s"):
            run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    finally:
        stall.set()
    assert time.monotonic() - t0 < 30
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step-000001"
    assert torch.get_num_threads() >= 1


@pytest.mark.slow
def test_killed_sampler_process_ends_the_run_with_a_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, overrides=["train.steps=40", "faults.rollout_timeout_s=120"])
    metrics = tmp_path / "run" / "metrics.jsonl"

    def kill_after_two_steps():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            kids = [p for p in multiprocessing.active_children() if p.name == "cotrl-sampler"]
            if kids and metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
                os.kill(kids[0].pid, signal.SIGKILL)
                killed_at.append(time.monotonic())
                return
            time.sleep(0.002)

    killed_at: list[float] = []
    killer = threading.Thread(target=kill_after_two_steps, daemon=True)
    killer.start()
    with pytest.raises(
        async_loop.RolloutFailure, match=r"the rollout sampler process died \(exit code -9\)"
    ) as err:
        run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert time.monotonic() - killed_at[0] < 15  # seen at once, not after the 120 s timeout
    step = int(str(err.value).split("stopped at step ")[1].split(":")[0])
    assert 2 <= step < 40
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == f"step-{step - 1:06d}"
    assert [m["step"] for m in _metrics(tmp_path / "run")] == list(range(step))
