"""Shared helpers for benchmarks: one result schema, a printed table, a JSON file.

Every benchmark measures ours and the peer side by side in one process run (machines
are noisy: ratios hold, absolute times drift) and writes bench/results/NAME.json.
`ratio` is oriented so that above 1 means we are better.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    try:
        import torch

        torch_v = torch.__version__
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        torch_v, gpu = "none", "no GPU"
    return (
        f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, python {platform.python_version()}, "
        f"torch {torch_v}, {gpu}"
    )


def timeit(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of `repeat` calls after `warmup` calls (seconds)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def write_result(
    name: str,
    metric: str,
    unit: str,
    ours: float,
    peer: str,
    peer_value: float,
    goal_ratio: float,
    higher_is_better: bool,
    description: str,
    rows: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write bench/results/NAME.json atomically and print a table of `rows` (or the headline)."""
    ratio = (ours / peer_value if higher_is_better else peer_value / ours) if ours and peer_value else 0.0
    result = {
        "name": name,
        "metric": metric,
        "unit": unit,
        "ours": ours,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": round(ratio, 4),
        "goal_ratio": goal_ratio,
        "goal_met": ratio >= goal_ratio,
        "higher_is_better": higher_is_better,
        "description": description,
        "machine": machine(),
        "command": _command(),
        "rows": rows or [],
        **(extra or {}),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS / f".{name}.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=float))
    os.replace(tmp, RESULTS / f"{name}.json")
    print_table(rows or [{"metric": metric, "ours": ours, peer: peer_value, "ratio": result["ratio"]}])
    print(
        f"{name}: {metric} ours={ours:.4g} {unit}, {peer}={peer_value:.4g} {unit}, ratio={ratio:.3g} "
        f"(goal {goal_ratio}) -> {'met' if result['goal_met'] else 'NOT met'}"
    )
    return result


def _command() -> str:
    """How this result was made: the script and its arguments, with this checkout's path dropped."""
    args = [a.replace(f"{ROOT}/", "") for a in sys.argv[1:]]
    return shlex.join(["python", f"bench/{Path(sys.argv[0]).name}", *args])


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_fmt(row.get(c, "")) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    print(" | ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(r, widths)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
