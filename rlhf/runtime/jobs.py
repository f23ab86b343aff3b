"""Independent runs side by side: one spawned process per run, one torch thread each.

The tiny models this project trains on CPU use one intra-op thread (rlhf.runtime.threads), so
a run occupies one core; on a machine with several, independent runs (a sweep's points, one
GRPO run per candidate learning rate, a benchmark's seeds) go faster as processes than one
after another. A job is `(function, *args)`, where the function is importable at module level
and its arguments picklable (the processes are spawned, never forked: torch and tokenizers
hold threads that a fork would copy half-alive). With one worker, or one job, the jobs run in
this process, in order, and nothing is spawned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

Job = tuple[Any, ...]  # (function, *args)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def call_job(job: Job) -> Any:
    """Run one job with one torch thread (in a worker, or in this process)."""
    import torch

    torch.set_num_threads(1)
    fn, *args = job
    return fn(*args)


def run_jobs(jobs: Sequence[Job], workers: int) -> list[Any]:
    """Every job's result, in the order given; `workers` processes at most."""
    n = min(workers, len(jobs))
    if n <= 1:
        return [call_job(j) for j in jobs]
    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(call_job, jobs))


class JobPool:
    """A pool to submit jobs to as their inputs become ready (a job may wait on another's output).

    `workers <= 1` runs each job when submitted, in this process; the returned future is done.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) if workers > 1 else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._ex is not None:
            return self._ex.submit(call_job, (fn, *args))
        fut: Future = Future()
        try:
            fut.set_result(call_job((fn, *args)))
        except BaseException as exc:  # the caller's .result() raises it, as from a worker
            fut.set_exception(exc)
        return fut

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=exc[0] is not None)
