"""The asynchronous samplers (a child process, or a thread): each samples from exactly the version
it is told, checks that version with the probe, and reports a dead or stalled sampler instead of hanging."""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest
import torch

from rlhf.rollout.async_process import ProcessSampler
from rlhf.rollout.async_sampler import Job, SamplerFailure, ThreadedSampler
from rlhf.rollout.base import SamplingParams
from rlhf.rollout.hf import HFSampler
from rlhf.rollout.parity import WeightSyncError

PARAMS = SamplingParams(n=2, max_new_tokens=8, temperature=1.0, seed=3)


@pytest.fixture()
def model_tok(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def _prompts(tok):
    return [tok("Compute 12 + 7 * 3.").input_ids, tok("Solve 2x = 8").input_ids]


KINDS = [ThreadedSampler, pytest.param(ProcessSampler, marks=pytest.mark.slow)]


@pytest.mark.parametrize("kind", KINDS)
def test_samples_from_the_published_version_not_the_live_weights(model_tok, kind):
    model, tok = model_tok
    prompts = _prompts(tok)
    want_v0 = HFSampler(model, tok).generate(prompts, PARAMS)
    sampler = kind(model, tok, threads=1)
    try:
        sampler.publish(model, 0)
        with torch.no_grad():  # the trainer moves on after publishing version 0
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        want_v1 = HFSampler(model, tok).generate(prompts, PARAMS)
        assert want_v1 != want_v0
        sampler.submit(Job(step=1, version=0, prompts=prompts, params=PARAMS))
        got = sampler.take(1, timeout_s=180)
        assert got.version == 0 and got.completions == want_v0  # version 0, seeded like the inline sampler
        assert got.probe is not None and got.probe.max_abs_diff <= got.probe.tolerance
        sampler.publish(model, 1)
        sampler.submit(Job(step=2, version=1, prompts=prompts, params=PARAMS))
        got = sampler.take(2, timeout_s=180)
        assert got.version == 1 and got.completions == want_v1
        assert got.finished >= got.started and sampler.busy_seconds(got.started, got.finished) > 0
    finally:
        sampler.close()


@pytest.mark.parametrize("kind", KINDS)
def test_unpublished_version_is_refused(model_tok, kind):
    model, tok = model_tok
    sampler = kind(model, tok, threads=1)
    try:
        with pytest.raises(ValueError, match="version 4 was never published"):
            sampler.submit(Job(step=4, version=4, prompts=_prompts(tok), params=PARAMS))
    finally:
        sampler.close()


def test_probe_catches_weights_that_are_not_the_claimed_version(model_tok):
    model, tok = model_tok
    sampler = ThreadedSampler(model, tok, threads=1)
    try:
        sampler.publish(model, 0)
        name = next(iter(sampler._published[0].tensors))  # a copy that went wrong after the probe was taken
        sampler._published[0].tensors[name].add_(0.5)
        sampler.submit(Job(step=0, version=0, prompts=_prompts(tok), params=PARAMS))
        with pytest.raises(WeightSyncError, match="policy version 0"):
            sampler.take(0, timeout_s=180)
    finally:
        sampler.close()


@pytest.mark.slow
def test_process_probe_catches_weights_that_are_not_the_claimed_version(model_tok):
    model, tok = model_tok
    sampler = ProcessSampler(model, tok, threads=1)
    try:
        sampler.publish(model, 0)
        good = {n: p.detach().clone() for n, p in model.named_parameters()}
        bad = {n: t + 0.5 if i == 0 else t for i, (n, t) in enumerate(good.items())}
        sampler._inbox.put(("publish", 1, bad, _probe(model, sampler)))  # probe of the true weights
        sampler._published.add(1)  # version 1 arrives with a tensor that is not version 1's
        sampler.submit(Job(step=0, version=1, prompts=_prompts(tok), params=PARAMS))
        with pytest.raises(SamplerFailure, match="WeightSyncError: .*policy version 1"):
            sampler.take(0, timeout_s=180)
    finally:
        sampler.close()
    assert not sampler.process.is_alive()


def _probe(model, sampler):
    from rlhf.rollout.parity import trainer_logprobs

    return trainer_logprobs(model, sampler.probe_batch)


def _kill(thread) -> None:
    """Raise SystemExit inside `thread` (CPython's PyThreadState_SetAsyncExc): the thread ends, silently."""
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
    assert n == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_killed_thread_is_reported_not_waited_for(model_tok):
    model, tok = model_tok
    sampler = ThreadedSampler(model, tok, threads=1)
    sampler.publish(model, 0)
    _kill(sampler.thread)  # it is waiting for a job; the exception lands when it wakes
    sampler.submit(Job(step=0, version=0, prompts=_prompts(tok), params=PARAMS))
    t0 = time.monotonic()
    with pytest.raises(SamplerFailure, match="thread died"):
        sampler.take(0, timeout_s=30)
    assert time.monotonic() - t0 < 5


@pytest.mark.slow
def test_a_killed_process_is_reported_not_waited_for(model_tok):
    model, tok = model_tok
    sampler = ProcessSampler(model, tok, threads=1)
    sampler.publish(model, 0)
    os.kill(sampler.process.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(SamplerFailure, match="process died"):
        sampler.take(0, timeout_s=30)
    assert time.monotonic() - t0 < 5
    sampler.close()


@pytest.mark.slow
def test_a_stopped_process_times_out_and_is_reaped(model_tok):
    model, tok = model_tok
    sampler = ProcessSampler(model, tok, threads=1)
    sampler.publish(model, 0)
    os.kill(sampler.process.pid, signal.SIGSTOP)  # a real stall: the process exists, does nothing
    sampler.submit(Job(step=0, version=0, prompts=_prompts(tok), params=PARAMS))
    t0 = time.monotonic()
    with pytest.raises(SamplerFailure, match="produced nothing for 1 s"):
        sampler.take(0, timeout_s=1.0)
    assert 1.0 <= time.monotonic() - t0 < 4
    sampler.close()
    assert not sampler.process.is_alive()


def test_a_stalled_thread_times_out(model_tok):
    model, tok = model_tok
    sampler = ThreadedSampler(model, tok, threads=1)
    try:
        sampler.publish(model, 0)  # a job that is never submitted: the thread waits forever
        t0 = time.monotonic()
        with pytest.raises(SamplerFailure, match="produced nothing for 0.5 s"):
            sampler.take(0, timeout_s=0.5)
        assert 0.5 <= time.monotonic() - t0 < 3
    finally:
        sampler.close()
