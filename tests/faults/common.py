"""Subprocess helpers for the fault tests: real `cotrl train` processes on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMING = ("seconds", "time_", "tokens_per_second", "overlap_frac", "hw/")  # hw/: the machine, not the run


def env(repo_root: Path, **extra: str) -> dict[str, str]:
    out = dict(
        os.environ,
        PYTHONPATH=str(repo_root),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    out.pop("COTRL_KILL_AT", None)
    out.update(extra)
    return out


def train(
    repo_root: Path, args: list[str], timeout: int = 300, **extra_env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlhf.cli.main", "train", *args],
        cwd=repo_root,
        env=env(repo_root, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def launch(
    repo_root: Path, config: Path, args: list[str], timeout: int = 300, **extra_env: str
) -> subprocess.CompletedProcess:
    """`accelerate launch --config_file CONFIG -m rlhf.cli train ARGS` (several processes)."""
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "--main_process_port",
        str(free_port()),
        "-m",
        "rlhf.cli.main",
        "train",
        *args,
    ]
    return subprocess.run(
        cmd, cwd=repo_root, env=env(repo_root, **extra_env), capture_output=True, text=True, timeout=timeout
    )


def metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def deterministic(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if not k.startswith(TIMING) and "latency" not in k}


def emit_row(row: dict) -> None:
    """One JSON line to stdout in a single write: the processes of a torchrun launch share the pipe,
    and a write under PIPE_BUF bytes is never interleaved with another process's (print's separate
    writes of the text and the newline were: two rows ran together on one line)."""
    os.write(1, (json.dumps(row) + "\n").encode())


def rows_by_rank(stdout: str) -> list[dict]:
    """The JSON rows the workers emitted, sorted by their `rank`."""
    rows = (json.loads(x) for x in stdout.splitlines() if x.startswith("{"))
    return sorted(rows, key=lambda r: r["rank"])


def free_port() -> int:
    """A port nobody listens on now (the config's fixed port may be taken by a parallel test)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
