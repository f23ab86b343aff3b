"""Rollouts on their own thread, from a published policy version (`train.async`).

The trainer publishes the weights of each policy version (a version is the number of RL
steps completed) and submits jobs: "sample these prompts for step j with version v". A
thread with its own copy of the model (and of the tokenizer: a fast tokenizer must not be
used by two threads at once) loads exactly version v, checks it, generates with the
transformers sampler, and hands back the completions tagged with v. Meanwhile the trainer
scores and updates on its own thread; torch releases the GIL inside its kernels, so on two
cores the rollout and the update each get one.

Why an exact version rather than "the newest weights": the run stays a pure function of
its seed (the same recipe gives the same samples, whatever the thread timing), and the
staleness of every sample is known in advance.

Why a probe per version: a weight copy that silently misses a tensor (a LoRA adapter, a
tied embedding) would make the sampler generate from weights that are not version v, and
the importance ratios would be quietly wrong. At publication the trainer scores a fixed
probe batch with version v; the thread scores it again after loading v and stops the run
(`WeightSyncError`) when the two disagree by more than the tolerance.

Faults: an exception on the thread is handed to the trainer by `take`; a thread that died
without a word (killed) or produced nothing for `timeout_s` ends `take` with `SamplerFailure`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rlhf.rollout.base import Completion, SamplingParams
from rlhf.rollout.hf import HFSampler
from rlhf.rollout.parity import (
    FALLBACK_PROBE_TEXT,
    ProbeResult,
    WeightSyncError,
    compare,
    default_tolerance,
    trainer_logprobs,
)
from rlhf.runtime import killpoints

THREAD_NAME = "cotrl-sampler"


def busy_within(busy: Any, start: float, end: float) -> float:
    """Seconds of the `(begin, end or None)` spans in `busy` that fall within [start, end]
    (an open span is still running: it counts up to `end`)."""
    spans = [(a, b if b is not None else end) for a, b in busy]
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


class SamplerFailure(RuntimeError):
    """The sampler thread died or stalled; `reason` says which, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Job:
    step: int  # the RL step these rollouts are for
    version: int  # the policy version to sample from (must have been published)
    prompts: list[list[int]]
    params: SamplingParams


@dataclass(frozen=True)
class Result:
    step: int
    version: int  # the version the thread loaded and verified before sampling
    completions: list[list[Completion]]
    started: float  # time.perf_counter() when sampling began / ended
    finished: float
    probe: ProbeResult | None  # None: this version was already loaded and checked for an earlier job


@dataclass(frozen=True)
class _Published:
    tensors: dict[str, torch.Tensor]  # trainable parameters of this version (clones)
    probe: list[list[float]]  # the trainer's logprobs of the probe batch under this version


class ThreadedSampler:
    """A transformers sampler on a daemon thread, fed by `submit`, read by `take`."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        batch_size: int = 0,
        threads: int | None = None,
        tolerance: float | None = None,
    ) -> None:
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        self.sampler = HFSampler(self.model, copy.deepcopy(tokenizer), batch_size=batch_size)
        self.threads = threads
        dtype = next(model.parameters()).dtype
        self.tolerance = tolerance if tolerance is not None else default_tolerance(dtype)
        self.probe_batch = [list(tokenizer(FALLBACK_PROBE_TEXT, add_special_tokens=False).input_ids)]
        self._names = [n for n, p in model.named_parameters() if p.requires_grad]
        self._own = dict(self.model.named_parameters())
        missing = [n for n in self._names if n not in self._own]
        assert not missing, f"sampler copy lacks parameters {missing[:3]}"  # deepcopy keeps names
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._published: dict[int, _Published] = {}
        self._results: dict[int, Result] = {}
        self._busy: list[list[float | None]] = []  # [start, end or None] of every sampling
        self._error: BaseException | None = None
        self._closed = False
        self._loaded: int | None = None
        self.thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ trainer side

    @torch.no_grad()
    def publish(self, model: nn.Module, version: int) -> None:
        """Record `model`'s trainable weights as `version` (call between updates, on the trainer's thread)."""
        tensors = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        probe = trainer_logprobs(model, self.probe_batch)
        with self._cond:
            self._published[version] = _Published(tensors, probe)
            self._cond.notify_all()

    def submit(self, job: Job) -> None:
        with self._cond:
            if job.version not in self._published:
                raise ValueError(f"step {job.step}: policy version {job.version} was never published")
            self._jobs.append(job)
            self._cond.notify_all()

    def take(self, step: int, timeout_s: float) -> Result:
        """The result for `step`; raises the thread's own error, or `SamplerFailure` when it
        died silently or produced nothing within `timeout_s` seconds."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while step not in self._results:
                if self._error is not None:
                    raise self._error
                if not self.thread.is_alive():
                    raise SamplerFailure("the rollout sampler thread died")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SamplerFailure(f"the rollout sampler thread produced nothing for {timeout_s:g} s")
                self._cond.wait(min(left, 0.2))
            return self._results.pop(step)

    def busy_seconds(self, start: float, end: float) -> float:
        """Seconds within [start, end] (perf_counter) during which the thread was sampling."""
        with self._cond:
            return busy_within(self._busy, start, end)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.thread.join(timeout=1.0)  # a stalled thread is a daemon: left behind, not waited for

    # ------------------------------------------------------------------ sampler thread

    def _loop(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)  # intra-op threads are set per calling thread
        try:
            while True:
                with self._cond:
                    while not self._jobs and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    job = self._jobs.popleft()
                    pub = self._published[job.version]
                    for v in [v for v in self._published if v < job.version]:
                        del self._published[v]  # jobs come in version order: older ones are done
                    span: list[float | None] = [time.perf_counter(), None]
                    self._busy = [s for s in self._busy if s[1] is None or s[1] > span[0] - 600] + [span]
                probe = self._load(job.version, pub)
                out = self.sampler.generate(job.prompts, job.params)
                killpoints.reached("rollout", job.step)
                done = time.perf_counter()
                with self._cond:
                    span[1] = done
                    self._results[job.step] = Result(job.step, job.version, out, span[0], done, probe)
                    self._cond.notify_all()
        except Exception as exc:  # handed to the trainer, which stops the run with a checkpoint
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _load(self, version: int, pub: _Published) -> ProbeResult | None:
        """Copy `version`'s weights into the thread's model and check them with the probe."""
        if self._loaded == version:
            return None
        result = load_version(
            self.model, self._own, pub.tensors, self.probe_batch, pub.probe, self.tolerance, version
        )
        self._loaded = version
        return result


@torch.no_grad()
def load_version(
    model: nn.Module,
    own: dict[str, torch.Tensor],
    tensors: dict[str, torch.Tensor],
    probe_batch: list[list[int]],
    probe_ref: list[list[float]],
    tolerance: float,
    version: int,
) -> ProbeResult:
    """Copy a published version's trainable tensors into `model` (whose parameters are `own`) and
    compare its probe logprobs with the trainer's for that version; a mismatch is a WeightSyncError."""
    for name, tensor in tensors.items():
        own[name].copy_(tensor)
    result = compare(trainer_logprobs(model, probe_batch), probe_ref, tolerance)
    if not result.ok:
        raise WeightSyncError(
            f"the sampler's weights disagree with policy version {version}: max |logprob "
            f"difference| {result.max_abs_diff:.4g} > tolerance {result.tolerance:.4g} on the probe batch"
        )
    return result
