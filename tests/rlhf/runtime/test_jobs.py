"""rlhf.runtime.jobs: independent runs in spawned processes, results in the order given."""

from __future__ import annotations

import operator
import os

import pytest

from rlhf.runtime.jobs import JobPool, run_jobs


def test_one_worker_runs_the_jobs_here_in_order():
    assert run_jobs([(operator.add, 1, 2), (operator.mul, 3, 4)], 1) == [3, 12]
    assert run_jobs([(os.getpid,)], 4) == [os.getpid()]  # one job: nothing is spawned


def test_two_workers_run_in_other_processes_and_keep_the_order():
    jobs = [(operator.pow, 2, k) for k in range(6)]
    assert run_jobs(jobs, 2) == [1, 2, 4, 8, 16, 32]
    pids = run_jobs([(os.getpid,)] * 2, 2)
    assert os.getpid() not in pids


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_its_own_error_from_result(workers):
    with JobPool(workers) as pool:
        ok = pool.submit(operator.add, 1, 1)
        bad = pool.submit(operator.truediv, 1, 0)
        assert ok.result() == 2
        with pytest.raises(ZeroDivisionError):
            bad.result()


def test_a_job_may_be_submitted_once_another_has_finished():
    with JobPool(2) as pool:
        first = pool.submit(operator.add, 2, 3)
        second = pool.submit(operator.mul, first.result(), 10)  # waits on the first's output
        assert second.result() == 50
