"""Rollouts in a child process, from a published policy version (`train.async.sampler: process`).

The same protocol as `rlhf.rollout.async_sampler.ThreadedSampler` (publish, submit, take), for
the case where a thread cannot overlap: a small model's decode loop is mostly Python, so the
sampler thread and the trainer take turns holding the GIL. Measured on this project's tiny
model: one decode job 0.10 s alone, 0.19 s each when two run on two threads, 0.105 s each in
two processes. So the default sampler is a process.

How: a `spawn`ed child gets a copy of the policy (its tensors in shared memory, handed over
once) and the tokenizer. `publish` puts a version's trainable tensors (clones, moved through
shared memory by torch.multiprocessing) and the trainer's probe logprobs on the child's inbox;
jobs follow on the same queue, so a version always arrives before the jobs that use it. The
child loads the version, checks it with the probe, samples, and sends the result back; a
reader thread here files results for `take`.

Faults: the child's own error comes back as one line; a child that is killed (or exits)
is seen by `take` within a fraction of a second; one that produces nothing for `timeout_s`
is reported as stalled. The child exits by itself when its parent is gone (no orphans after a
kill -9 of the trainer), and the `rollout` kill point of the fault tests kills the parent too
(a kill -9 of the whole job, as in the synchronous loop).
"""

from __future__ import annotations

import copy
import os
import queue
import signal
import threading
import time
from typing import Any

import torch
from torch import nn

from rlhf.rollout.async_sampler import Job, Result, SamplerFailure, busy_within, load_version
from rlhf.rollout.hf import HFSampler
from rlhf.rollout.parity import FALLBACK_PROBE_TEXT, default_tolerance, trainer_logprobs
from rlhf.runtime import killpoints


class ProcessSampler:
    """A transformers sampler in a spawned child process, fed by `submit`, read by `take`."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        batch_size: int = 0,
        threads: int | None = None,
        tolerance: float | None = None,
    ) -> None:
        import torch.multiprocessing as mp

        dtype = next(model.parameters()).dtype
        tol = tolerance if tolerance is not None else default_tolerance(dtype)
        self.probe_batch = [list(tokenizer(FALLBACK_PROBE_TEXT, add_special_tokens=False).input_ids)]
        child_model = copy.deepcopy(model).eval()
        child_model.requires_grad_(False)
        child_model.share_memory()
        ctx = mp.get_context("spawn")
        self._inbox = ctx.Queue()
        self._outbox = ctx.Queue()
        self.process = ctx.Process(
            target=_child_main,
            args=(
                child_model,
                tokenizer,
                batch_size,
                threads,
                tol,
                self.probe_batch,
                self._inbox,
                self._outbox,
            ),
            name="cotrl-sampler",
            daemon=True,
        )
        self.process.start()
        del child_model  # the child holds its own copy now
        self._cond = threading.Condition()
        self._results: dict[int, Result] = {}
        self._busy: list[list[float | None]] = []
        self._error: str | None = None
        self._closed = False
        self._published: set[int] = set()
        self._reader = threading.Thread(target=self._read, name="cotrl-sampler-reader", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------ trainer side

    @torch.no_grad()
    def publish(self, model: nn.Module, version: int) -> None:
        """Send `model`'s trainable weights as `version` (between updates, on the trainer's thread)."""
        tensors = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        probe = trainer_logprobs(model, self.probe_batch)
        self._published.add(version)
        self._inbox.put(("publish", version, tensors, probe))

    def submit(self, job: Job) -> None:
        if job.version not in self._published:
            raise ValueError(f"step {job.step}: policy version {job.version} was never published")
        self._inbox.put(("job", job))

    def take(self, step: int, timeout_s: float) -> Result:
        """The result for `step`; `SamplerFailure` when the child failed, died or stalled."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while step not in self._results:
                if self._error is not None:
                    raise SamplerFailure(f"the rollout sampler process failed ({self._error})")
                if not self.process.is_alive():
                    raise SamplerFailure(
                        f"the rollout sampler process died (exit code {self.process.exitcode})"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SamplerFailure(f"the rollout sampler process produced nothing for {timeout_s:g} s")
                self._cond.wait(min(left, 0.2))
            return self._results.pop(step)

    def busy_seconds(self, start: float, end: float) -> float:
        """Seconds within [start, end] (perf_counter, system-wide on Linux) the child spent sampling."""
        with self._cond:
            return busy_within(self._busy, start, end)

    def close(self) -> None:
        with self._cond:
            self._closed = True
        try:
            self._inbox.put(("close",))
        except (OSError, ValueError):
            pass
        self.process.join(timeout=2.0)
        if self.process.is_alive():  # stalled: it would never read "close"
            self.process.kill()
            self.process.join(timeout=2.0)
        self._reader.join(timeout=1.0)

    def _read(self) -> None:
        """File the child's messages (started, result, error) for `take` and `busy_seconds`."""
        while True:
            try:
                msg = self._outbox.get(timeout=0.2)
            except queue.Empty:
                if self._closed or not self.process.is_alive():
                    with self._cond:
                        self._cond.notify_all()
                    if self._closed:
                        return
                continue
            except (EOFError, OSError):
                return
            with self._cond:
                if msg[0] == "started":
                    self._busy = [s for s in self._busy if s[1] is None or s[1] > msg[2] - 600]
                    self._busy.append([msg[2], None])
                elif msg[0] == "result":
                    res: Result = msg[1]
                    if self._busy:
                        self._busy[-1][1] = res.finished
                    self._results[res.step] = res
                else:
                    self._error = msg[1]
                self._cond.notify_all()


def _child_main(
    model: nn.Module,
    tokenizer: Any,
    batch_size: int,
    threads: int | None,
    tolerance: float,
    probe_batch: list[list[int]],
    inbox: Any,
    outbox: Any,
) -> None:
    """The sampler process: publications and jobs in order, results out, until closed or orphaned."""
    if threads is not None:
        torch.set_num_threads(threads)
    sampler = HFSampler(model, tokenizer, batch_size=batch_size)
    own = dict(model.named_parameters())
    published: dict[int, tuple[dict[str, torch.Tensor], list[list[float]]]] = {}
    loaded: int | None = None
    parent = os.getppid()
    while True:
        try:
            msg = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the trainer is gone (killed): so are we
                return
            continue
        if msg[0] == "close":
            return
        if msg[0] == "publish":
            published[msg[1]] = (msg[2], msg[3])
            continue
        job: Job = msg[1]
        try:
            outbox.put(("started", job.step, time.perf_counter()))
            tensors, probe_ref = published[job.version]
            for v in [v for v in published if v < job.version]:
                del published[v]
            probe = None
            if loaded != job.version:
                probe = load_version(model, own, tensors, probe_batch, probe_ref, tolerance, job.version)
                loaded = job.version
            started = time.perf_counter()
            out = sampler.generate(job.prompts, job.params)
            if os.environ.get(killpoints.ENV) == f"rollout:{job.step}":
                os.kill(parent, signal.SIGKILL)  # the fault tests' kill -9 of the whole job, mid-rollout
                os.kill(os.getpid(), signal.SIGKILL)
            outbox.put(("result", Result(job.step, job.version, out, started, time.perf_counter(), probe)))
        except Exception as exc:  # the trainer stops the run with a checkpoint and this line
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))
            return
