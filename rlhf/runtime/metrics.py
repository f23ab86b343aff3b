"""Per-step metrics: JSONL in the run directory (plus TensorBoard when asked), PNG plots at the end.

On resume, lines written after the checkpoint being resumed are dropped first, so the
file reads as if the run had never been killed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from data_gen.writers import atomic_write_text

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
    def __init__(self, path: Path, report_to: tuple[str, ...] = (), tb_dir: Path | None = None) -> None:
        self.path = path
        self._tb = None
        if "tensorboard" in report_to:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ValueError(f"run.report_to: tensorboard is not installed ({exc})") from None
            self._tb = SummaryWriter(str(tb_dir or path.parent / "tensorboard"))
        self._wandb = None
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError as exc:
                raise ValueError(f"run.report_to: wandb is not installed ({exc})") from None
            self._wandb = wandb.init(dir=str(path.parent), config={"run_dir": str(path.parent)})

    def truncate_after(self, step: int) -> None:
        """Keep only records with `step` <= `step` (resume from that checkpoint)."""
        truncate_jsonl(self.path, step)

    def log(self, record: dict[str, Any]) -> None:
        clean = {k: _clean(v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean) + "\n")
            fh.flush()
        step = int(record["step"])
        for key, value in clean.items():
            if isinstance(value, (int, float)) and key != "step":
                if self._tb is not None:
                    self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in clean.items() if isinstance(v, (int, float))}, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


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
    """One PNG grid of the main curves (`plots/training_curves.png`); None when nothing to plot."""
    records = read_metrics(metrics_path)
    series = {}
    for key in keys:
        pts = [
            (r["step"], r[key])
            for r in records
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        ]
        if pts:
            series[key] = pts
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (key, pts) in zip(axes.flat, series.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, linewidth=1.2)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    fig.tight_layout()
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = plots_dir / "training_curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
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
