"""Per-step metrics: JSONL in the run directory (plus the trackers in `run.report_to`), PNG plots at the end.

On resume, lines written after the checkpoint being resumed are dropped first, so the
file reads as if the run had never been killed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from data_gen.writers import atomic_write_text
from rlhf.runtime.sinks import Sinks

PLOT_KEYS = (
    "reward_mean",
    "accuracy",
    "step_accuracy",
    "kl",
    "entropy",
    "clip_frac",
    "response_len_mean",
    "zero_variance_frac",
    "tokens_per_second",
    "seconds",
)


class MetricsLog:
    """metrics.jsonl plus the trackers `run.report_to` names (`rlhf.runtime.sinks`)."""

    def __init__(
        self, path: Path, report_to: tuple[str, ...] = (), config: dict[str, Any] | None = None
    ) -> None:
        self.path = path
        self._sinks = Sinks(tuple(report_to), path.parent, config)

    def truncate_after(self, step: int) -> None:
        """Keep only records with `step` <= `step` (resume from that checkpoint)."""
        truncate_jsonl(self.path, step)

    def log(self, record: dict[str, Any]) -> None:
        clean = {k: _clean(v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean) + "\n")
            fh.flush()
        self._sinks.log(clean, int(record["step"]))

    def close(self) -> None:
        self._sinks.close()


def truncate_jsonl(path: Path, step: int) -> None:
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and _step_of(line) is not None and _step_of(line) <= step
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_plots(metrics_path: Path, plots_dir: Path, keys: tuple[str, ...] = PLOT_KEYS) -> Path | None:
    """One PNG grid of the main curves (`plots/training_curves.png`); None when nothing to plot.

    A panel per metric: the raw values thin and faint, a smoothed line (`smooth`) over them.
    Metrics whose values are the same at every step (reward_mean and accuracy under a 0/1
    reward) share one panel titled with both names instead of being drawn twice.
    """
    panels = plot_panels(read_metrics(metrics_path), keys)
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (names, pts) in zip(axes.flat, panels):
        xs, ys = zip(*pts)
        ax.plot(
            xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, linewidth=0.8, alpha=0.35, label="raw"
        )
        if len(xs) > 2:
            ax.plot(xs, smooth(list(ys)), linewidth=2.0, color="C0", label="smoothed")
        ax.set_title(" = ".join(names))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = plots_dir / "training_curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_panels(records: list[dict[str, Any]], keys: tuple[str, ...]) -> list[tuple[list[str], tuple]]:
    """(metric names, their (step, value) points) per panel, in `keys` order; equal series share one."""
    panels: dict[tuple, list[str]] = {}
    for key in keys:
        pts = tuple(
            (r["step"], r[key])
            for r in records
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        )
        if pts:
            panels.setdefault(pts, []).append(key)
    return [(names, pts) for pts, names in panels.items()]


def smooth(values: list[float], weight: float | None = None) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average debiased at the start (so the first
    points are not pulled toward 0). The weight grows with the length of the run, 0.6 at 30
    points, at most 0.9, so short runs are not flattened."""
    if weight is None:
        weight = min(0.9, max(0.0, 1.0 - 12.0 / max(len(values), 1)))
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1.0 - weight) * v
        out.append(last / (1.0 - weight**n) if weight else v)
    return out


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null means "not measured this step"
    return value
