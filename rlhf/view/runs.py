"""The run directories `cotrl view` follows, read but never written.

A run directory is one `cotrl train` writes (its resolved recipe, `metrics.jsonl`,
`samples.jsonl`); a directory holding runs (the demo's `runs/demo`, with `sft/` and `grpo/`)
stands for the runs inside it and adds its `report.json` checkpoint curve to them. Logs are
read from a byte offset the page sends back, so a poll costs only what was appended since,
and a line still being written (no newline yet) waits for the next poll.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlhf.runtime.rundir import CONFIG_NAME, METRICS_NAME, SAMPLES_NAME

RUN_MARKERS = (CONFIG_NAME, METRICS_NAME, SAMPLES_NAME)
MAX_CHUNK = 4 * 1024 * 1024  # one poll reads at most this much of a log; the page asks again for the rest


@dataclass(frozen=True)
class Run:
    name: str  # how the page labels it: the directory name, made unique
    root: Path  # resolved; every file served must be inside it
    extra_json: tuple[Path, ...] = field(default=())  # the demo's report.json beside the run


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in RUN_MARKERS)


def find_runs(paths: list[str]) -> list[Run]:
    """Each argument as a run, or the runs directly inside it; ValueError in one line otherwise."""
    found: list[tuple[Path, tuple[Path, ...]]] = []
    for arg in paths:
        p = Path(arg).expanduser()
        if not p.exists():
            raise ValueError(f"{arg}: no such directory")
        if is_run_dir(p):
            found.append((p.resolve(), ()))
            continue
        inner = sorted(c for c in p.iterdir() if is_run_dir(c)) if p.is_dir() else []
        if not inner:
            raise ValueError(
                f"{arg} is not a run directory (none of {', '.join(RUN_MARKERS)} in it or in a sub-directory)"
            )
        report = p / "report.json"
        extra = (report.resolve(),) if report.is_file() else ()
        found += [(c.resolve(), extra) for c in inner]
    runs: list[Run] = []
    names: set[str] = set()
    for root, extra in found:
        if any(r.root == root for r in runs):
            continue
        name = root.name
        if name in names:
            name = f"{root.parent.name}/{root.name}"
        names.add(name)
        runs.append(Run(name, root, extra))
    return runs


def read_jsonl(path: Path, offset: int, ident: str = "") -> tuple[list[dict[str, Any]], int, str]:
    """Complete lines from byte `offset` on, the offset to ask from next time, and the file's identity.

    A resumed run rewrites its logs through a temp file (a new inode, `ident`) and a shorter
    one: either way the read starts over from 0 and the caller sees `offset` go down or
    `ident` change, and drops what it had.
    """
    if not path.is_file():
        return [], 0, ""
    st = path.stat()
    now = f"{st.st_dev}:{st.st_ino}"
    if offset > st.st_size or (ident and ident != now):
        offset = 0
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read(MAX_CHUNK)
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset, now
    records = []
    for line in chunk[: end + 1].splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn or foreign line: the rest of the log is still worth showing
        if isinstance(rec, dict):
            records.append(rec)
    return records, offset + end + 1, now


def config(run: Run) -> dict[str, Any]:
    path = run.root / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return {}


def thresholds(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The limits a run is held to, by metric: drawn as lines on the stability charts.

    grad_norm is clipped at `train.max_grad_norm`; a step whose every update was skipped for a
    non-finite loss counts toward `train.max_bad_steps`; a step where more than
    `faults.reward_fail_frac` of the samples lost a reward counts toward
    `faults.max_reward_fail_steps`; the weight-sync probe fails above `vllm.probe_tolerance`.
    """
    train, faults, vllm = (cfg.get(k) or {} for k in ("train", "faults", "vllm"))
    out: dict[str, dict[str, Any]] = {}
    if _num(train.get("max_grad_norm")):
        out["grad_norm"] = {"value": train["max_grad_norm"], "label": "clipped above (train.max_grad_norm)"}
    if _num(train.get("max_bad_steps")):
        out["skipped_updates"] = {
            "value": 1,
            "label": f"stop after {train['max_bad_steps']} steps in a row (train.max_bad_steps)",
        }
    if _num(faults.get("reward_fail_frac")):
        out["reward_fault_frac"] = {
            "value": faults["reward_fail_frac"],
            "label": f"failed step; stop after {faults.get('max_reward_fail_steps', 3)} in a row",
        }
    tol = vllm.get("probe_tolerance")
    dtype = (cfg.get("model") or {}).get("dtype", "float32")
    out["sync_probe_max_abs_diff"] = {
        "value": tol if _num(tol) else (1e-3 if dtype == "float32" else 5e-2),
        "label": "weight sync fails above (vllm.probe_tolerance)",
    }
    return out


def evaluations(run: Run) -> dict[str, Any]:
    """`cotrl eval --out` results saved in the run, and the demo's held-out checkpoint curve."""
    tables = []
    for path in sorted(run.root.glob("*.json")):
        data = _load_json(path)
        if isinstance(data, dict) and _num(data.get("accuracy")):
            tables.append(
                {
                    "file": path.name,
                    **{
                        k: data.get(k)
                        for k in ("accuracy", "step_accuracy", "format_rate", "n_problems", "unverifiable")
                    },
                }
            )
    curves = []
    for path in run.extra_json:
        data = _load_json(path)
        if isinstance(data, dict) and isinstance(data.get("heldout_curve"), list):
            curves.append({"file": path.name, "points": data["heldout_curve"]})
    return {"tables": tables, "curves": curves}


def plots(run: Run) -> list[str]:
    folder = run.root / "plots"
    return sorted(p.relative_to(run.root).as_posix() for p in folder.glob("*.png")) if folder.is_dir() else []


def safe_file(run: Run, rel: str) -> Path | None:
    """`rel` inside the run directory and a regular file, else None (the server answers 404).

    Resolving first means `..`, absolute paths and symlinks pointing out of the run all fail.
    """
    if not rel or "\x00" in rel:
        return None
    target = (run.root / rel).resolve()
    if not target.is_relative_to(run.root) or not target.is_file():
        return None
    return target


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
