"""Where a run's per-step numbers go besides metrics.jsonl: `run.report_to` names the trackers.

Every trainer (grpo, ppo, sft, prm, distill) reports through this one module, so each sink
gets the same records (rewards, per-step reward statistics, hardware status) and a sink that
is not installed fails the same way everywhere: one line, before the run starts
(`check_sinks`, called when a recipe is loaded and again when the sinks open).

tensorboard   event files in RUN/tensorboard (pinned in the environment; `tensorboard --logdir RUN`)
trackio       Hugging Face's local tracker, project "cotrl", the run named after its directory
wandb         a wandb run whose files live in RUN/wandb
mlflow        an mlflow run in RUN/mlruns unless MLFLOW_TRACKING_URI says otherwise
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any

# sink name -> (module that must import, what to install)
SINKS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "trackio": ("trackio", "trackio"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
}


def check_sinks(report_to: tuple[str, ...] | list[str]) -> None:
    """ValueError in one line for an unknown sink or one whose package is not installed."""
    for name in report_to:
        if name not in SINKS:
            raise ValueError(f"run.report_to: unknown sink {name!r}; valid: {', '.join(SINKS)}")
        module, package = SINKS[name]
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"run.report_to: {name} is not installed (pip install {package}, or remove {name!r} "
                "from run.report_to)"
            )


class Sinks:
    """The trackers of one run; `log` sends the numeric values of a record at its step."""

    def __init__(self, report_to: tuple[str, ...], run_root: Path, config: dict[str, Any] | None = None):
        check_sinks(report_to)
        self._open: list[tuple[str, Any]] = []
        for name in dict.fromkeys(report_to):
            self._open.append((name, _OPEN[name](Path(run_root), config or {})))

    def __bool__(self) -> bool:
        return bool(self._open)

    def log(self, record: dict[str, Any], step: int) -> None:
        values = {
            k: float(v)
            for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        if not values:
            return
        for name, handle in self._open:
            _LOG[name](handle, values, step)

    def close(self) -> None:
        for name, handle in self._open:
            _CLOSE[name](handle)
        self._open = []


def _tb_open(root: Path, config: dict[str, Any]) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(root / "tensorboard"))


def _tb_log(writer: Any, values: dict[str, float], step: int) -> None:
    for key, value in values.items():
        writer.add_scalar(key, value, step)
    writer.flush()  # a live run is readable while it trains


def _trackio_open(root: Path, config: dict[str, Any]) -> Any:
    import trackio

    return trackio.init(project="cotrl", name=root.name, config=config)


def _trackio_log(run: Any, values: dict[str, float], step: int) -> None:
    import trackio

    trackio.log(values, step=step)


def _trackio_close(run: Any) -> None:
    import trackio

    trackio.finish()


def _wandb_open(root: Path, config: dict[str, Any]) -> Any:
    import wandb

    return wandb.init(dir=str(root), name=root.name, config={"run_dir": str(root), **config})


def _mlflow_open(root: Path, config: dict[str, Any]) -> Any:
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri((root / "mlruns").resolve().as_uri())
    return mlflow.start_run(run_name=root.name)


def _mlflow_log(run: Any, values: dict[str, float], step: int) -> None:
    import mlflow

    mlflow.log_metrics(values, step=step)


def _mlflow_close(run: Any) -> None:
    import mlflow

    mlflow.end_run()


_OPEN = {"tensorboard": _tb_open, "trackio": _trackio_open, "wandb": _wandb_open, "mlflow": _mlflow_open}
_LOG = {
    "tensorboard": _tb_log,
    "trackio": _trackio_log,
    "wandb": lambda run, values, step: run.log(values, step=step),
    "mlflow": _mlflow_log,
}
_CLOSE = {
    "tensorboard": lambda writer: writer.close(),
    "trackio": _trackio_close,
    "wandb": lambda run: run.finish(),
    "mlflow": _mlflow_close,
}
