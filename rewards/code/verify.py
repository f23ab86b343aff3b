"""Run untrusted programs against tests: `run_tests` (assert/HumanEval style), `run_stdio`
(every output line compared), `run_batch` (bounded concurrency), and the `code_tests` reward.

Nothing here raises on a bad program: every outcome is an `ExecResult` whose `status` is one
of passed, failed, timeout, crashed, sandbox_error. Only `sandbox_error` (our fault, not the
program's) becomes an unverifiable None in the reward.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from rewards.code.sandbox import (
    ExecResult,
    SandboxLimits,
    classify_process_end,
    execute,
    sandbox_error,
    to_result,
)
from rewards.math.extract import last_tagged
from rewards.types import Problem

__all__ = [
    "ExecResult",
    "SandboxLimits",
    "CodeJob",
    "run_tests",
    "run_stdio",
    "run_batch",
    "compare_output",
    "extract_code",
    "CodeTestsReward",
]


def run_tests(
    program: str,
    tests: str,
    entry_point: str | None = None,
    timeout_s: float = 5.0,
    limits: SandboxLimits | None = None,
    trusted_prefix: str | None = None,
) -> ExecResult:
    """Run `program`, then `tests` against it in a separate process.

    `tests` is Python: top-level `assert`s (each counts as one test) and/or a HumanEval
    `check(candidate)` function, called with the program's `entry_point` (one test).
    `timeout_s` is CPU seconds; `limits` overrides every other limit. `trusted_prefix` is
    dataset code (e.g. a HumanEval prompt) whose helpers the tests get from the dataset
    rather than from the program, so a program cannot redefine them.
    """
    lim = SandboxLimits(cpu_s=timeout_s) if limits is None else limits
    try:
        ast.parse(tests)
    except (SyntaxError, ValueError) as exc:
        return sandbox_error(f"the tests do not parse: {exc}")
    try:
        raw = execute(
            {
                "mode": "function",
                "program": program,
                "entry_point": entry_point,
                "trusted_prefix": trusted_prefix,
            },
            tests,
            lim,
        )
    except Exception as exc:  # noqa: BLE001 - an infrastructure failure is a status, never an exception
        return sandbox_error(f"{type(exc).__name__}: {exc}")
    res = raw.result
    if res is not None:
        status = {"no_tests": "sandbox_error"}.get(res["status"], res["status"])
        return to_result(
            raw, status, str(res.get("detail", "")), int(res.get("n_passed", 0)), int(res.get("n_total", 0))
        )
    ended = classify_process_end(raw, lim)
    if ended is not None:
        return to_result(raw, *ended)
    return to_result(
        raw, "sandbox_error", f"the test process ended without a verdict (wait status {raw.wait_status})"
    )


def compare_output(expected: str, actual: str, strict: bool = False) -> tuple[bool, str]:
    """Every line must match, none missing and none extra. Trailing spaces and trailing blank
    lines are ignored unless `strict` (then only \r\n vs \n is)."""
    if strict:
        exp, act = expected.replace("\r\n", "\n").split("\n"), actual.replace("\r\n", "\n").split("\n")
    else:
        exp, act = _lines(expected), _lines(actual)
    for i in range(max(len(exp), len(act))):
        e = exp[i] if i < len(exp) else None
        a = act[i] if i < len(act) else None
        if e != a:
            if a is None:
                return False, f"output ended after {len(act)} lines; expected {len(exp)}"
            if e is None:
                return False, f"{len(act) - len(exp)} extra output line(s) after line {len(exp)}"
            return False, f"line {i + 1}: expected {e[:80]!r}, got {a[:80]!r}"
    return True, ""


def _lines(text: str) -> list[str]:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_stdio(
    program: str,
    cases: Sequence[tuple[str, str]] | Sequence[dict[str, str]],
    timeout_s: float = 5.0,
    limits: SandboxLimits | None = None,
    stop_on_failure: bool = False,
    strict: bool = False,
    stop_on_timeout: bool = False,
) -> ExecResult:
    """Run the program once per (stdin, expected stdout) case; passed only if every case passes.
    `outcomes` holds each case's status (passed, failed, timeout, crashed) as far as it got;
    `stop_on_timeout` runs no case after one that timed out (bounds the time of many cases)."""
    lim = SandboxLimits(cpu_s=timeout_s) if limits is None else limits
    pairs = [(c["input"], c["output"]) if isinstance(c, dict) else (c[0], c[1]) for c in cases]
    if not pairs:
        return sandbox_error("no stdin/stdout cases given")
    n_pass, first_bad, last = 0, None, None
    outcomes: list[str] = []
    for i, (stdin, expected) in enumerate(pairs):
        try:
            raw = execute({"mode": "stdio", "program": program, "stdin": stdin}, None, lim, want_stdout=True)
        except Exception as exc:  # noqa: BLE001
            return sandbox_error(f"{type(exc).__name__}: {exc}")
        ended = classify_process_end(raw, lim)
        if ended is None and raw.wait_status is not None and os.waitstatus_to_exitcode(raw.wait_status) != 0:
            ended = (
                "crashed",
                f"exit status {os.waitstatus_to_exitcode(raw.wait_status)}: "
                f"{raw.stderr.decode('utf-8', 'replace')[-300:]}",
            )
        if ended is None:
            ok, why = compare_output(expected, raw.full_stdout.decode("utf-8", "replace"), strict)
            ended = None if ok else ("failed", why)
        last = raw
        outcomes.append("passed" if ended is None else ended[0])
        if ended is None:
            n_pass += 1
            continue
        if ended[0] == "sandbox_error":
            return to_result(raw, *ended, outcomes=tuple(outcomes))
        first_bad = first_bad or (ended[0], f"case {i + 1}: {ended[1]}")
        if stop_on_failure or (stop_on_timeout and ended[0] == "timeout"):
            break
    assert last is not None
    if first_bad is None:
        return to_result(last, "passed", "", n_pass, len(pairs), tuple(outcomes))
    return to_result(last, first_bad[0], first_bad[1], n_pass, len(pairs), tuple(outcomes))


@dataclass(frozen=True)
class CodeJob:
    """One execution for `run_batch`: assert tests (`tests`) or stdin/stdout `cases`."""

    program: str
    tests: str | None = None
    entry_point: str | None = None
    cases: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 5.0
    trusted_prefix: str | None = None


def run_batch(
    jobs: Sequence[CodeJob], max_workers: int | None = None, limits: SandboxLimits | None = None
) -> list[ExecResult]:
    """Run jobs concurrently (threads only wait on subprocesses); results in input order."""

    def one(job: CodeJob) -> ExecResult:
        lim = replace(limits or SandboxLimits(), cpu_s=job.timeout_s)
        try:
            if job.cases:
                return run_stdio(job.program, job.cases, limits=lim)
            if job.tests is None:
                return sandbox_error("job has neither tests nor cases")
            return run_tests(
                job.program, job.tests, job.entry_point, limits=lim, trusted_prefix=job.trusted_prefix
            )
        except Exception as exc:  # noqa: BLE001
            return sandbox_error(f"{type(exc).__name__}: {exc}")

    if not jobs:
        return []
    workers = max(1, min(len(jobs), max_workers or (os.cpu_count() or 1)))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs))


_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(completion: str) -> str | None:
    """The program in a completion: inside <answer>...</answer> (fences stripped), else the
    last fenced code block. None when there is no code."""
    if not isinstance(completion, str):
        return None
    tagged = last_tagged(completion)
    found = tagged is not None
    text = tagged if found else completion
    blocks = _FENCE.findall(text)
    if blocks:
        return blocks[-1].strip("\n") or None
    return text.strip("\n") if found and text.strip() else None


class CodeTestsReward:
    """1.0 if the extracted program passes every test, else 0.0 (or the pass fraction with
    `partial=True`); None only for sandbox errors. Reads `problem.meta`: `tests` (+ optional
    `entry_point`, `prefix` prepended to the program, e.g. a HumanEval prompt; `tests` may be
    one string or a list of assert lines) or `cases` (list of {input, output} or pairs)."""

    name = "code_tests"

    def __init__(
        self,
        timeout_s: float = 5.0,
        partial: bool = False,
        max_workers: int | None = None,
        mem_mb: int = 1024,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"code_tests: timeout_s must be positive, got {timeout_s}")
        self.timeout_s, self.partial, self.max_workers = timeout_s, partial, max_workers
        self.limits = SandboxLimits(cpu_s=timeout_s, mem_bytes=int(mem_mb) << 20)
        self.last_results: list[ExecResult | None] = []

    def _job(self, problem: Problem, completion: str) -> CodeJob | None:
        code = extract_code(completion)
        if code is None:
            return None
        meta: dict[str, Any] = problem.meta
        prefix = str(meta.get("prefix") or "")
        entry = meta.get("entry_point")
        if prefix and entry and re.search(rf"^\s*def\s+{re.escape(str(entry))}\b", code, re.M):
            prefix = ""  # the completion restated the whole function
        program = prefix + code
        if meta.get("cases"):
            cases = tuple(
                (str(c["input"]), str(c["output"])) if isinstance(c, dict) else (str(c[0]), str(c[1]))
                for c in meta["cases"]
            )
            return CodeJob(program, cases=cases, timeout_s=self.timeout_s)
        tests = meta.get("tests", "")
        tests = "\n".join(map(str, tests)) if isinstance(tests, (list, tuple)) else str(tests)
        return CodeJob(
            program,
            tests=tests,
            entry_point=entry,
            timeout_s=self.timeout_s,
            trusted_prefix=str(meta.get("prefix") or "") or None,
        )

    def statuses(self) -> list[str]:
        """Status of each completion in the last call (`no_code` when nothing was extracted)."""
        return [r.status if r is not None else "no_code" for r in self.last_results]

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        jobs = [self._job(p, c) for p, c in zip(problems, completions, strict=True)]
        todo = [j for j in jobs if j is not None]
        done = iter(run_batch(todo, self.max_workers, self.limits))
        results = [next(done) if j is not None else None for j in jobs]
        self.last_results = results
        out: list[float | None] = []
        for r in results:
            if r is None:
                out.append(0.0)
            elif r.status == "sandbox_error":
                out.append(None)
            elif self.partial and r.n_total:
                out.append(r.n_passed / r.n_total)
            else:
                out.append(1.0 if r.passed else 0.0)
        return out
