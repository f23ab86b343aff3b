"""Trainer callbacks for SFT: metrics to the run dir, the run's progress display, and held-out accuracy."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from rlhf.data.readers import SftExample
from rlhf.eval import evaluator
from rlhf.eval.sft import heldout_problems, sft_settings
from rlhf.runtime.hardware import HardwareMonitor
from rlhf.runtime.progress import format_logs, progress
from rlhf.runtime.rundir import RunDir
from rlhf.runtime.sharding import unsharded
from rlhf.runtime.sinks import Sinks, check_sinks

PROGRESS_FIELDS = (
    ("loss", "loss={:.4f}"),
    ("grad_norm", "grad_norm={:.3f}"),
    ("learning_rate", "lr={:.3g}"),
    ("eval_loss", "eval_loss={:.4f}"),
)


class MetricsLog(TrainerCallback):
    """Every Trainer log line (loss, lr, grad norm, eval loss) and each step's wall time and hardware
    status -> metrics.jsonl and the trackers in `run.report_to` (`rlhf.runtime.sinks`, the same
    sinks every trainer reports to; transformers' own `report_to` stays off)."""

    def __init__(self, run_dir: RunDir, report_to: tuple[str, ...] = ()) -> None:
        self.run_dir = run_dir
        self.report_to = tuple(report_to)
        check_sinks(self.report_to)  # a missing tracker fails before any training
        self._sinks: Sinks | None = None
        self._hw = HardwareMonitor()
        self._t0 = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self._sinks is None:
            self._sinks = Sinks(self.report_to, self.run_dir.root)

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._write(
            {"step": state.global_step, "step_time": time.perf_counter() - self._t0, **self._hw.read()}
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self._write({"step": state.global_step, **logs})

    def on_train_end(self, args, state, control, **kwargs):
        if self._sinks is not None:
            self._sinks.close()
            self._sinks = None

    def _write(self, record: dict) -> None:
        self.run_dir.append_jsonl(self.run_dir.metrics_path, record)
        if self._sinks:
            self._sinks.log(record, int(record["step"]))


class ProgressLog(TrainerCallback):
    """The Trainer's loop on the run's progress display (`rlhf.runtime.progress`), in place of
    transformers' tqdm bar and its printed log dicts: the bar moves every step, and each log
    (every `run.log_every` steps) gives it the step's loss, grad norm and LR as numbers."""

    def __init__(self, label: str, every: int) -> None:
        self.label = label
        self.every = every
        self._stack = contextlib.ExitStack()
        self._bar = None
        self._info = ""

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._bar = self._stack.enter_context(
                progress(state.max_steps, state.global_step, self.label, self.every)
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.tick(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._bar is not None and logs and "loss" in logs:
            self._info = format_logs(logs, PROGRESS_FIELDS)
            self._bar.update(state.global_step, self._info)

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.update(state.global_step, self._info)  # the last step, if no log fell on it
        self._stack.close()
        self._bar = None


class HeldoutEval(TrainerCallback):
    """`cotrl eval`'s greedy evaluation of the model in training, every `every` steps; also callable directly."""

    def __init__(
        self,
        run_dir: RunDir,
        tokenizer: Any,
        examples: Sequence[SftExample],
        metric: str,
        max_new_tokens: int,
        every: int,
        stop_at: float | None = None,
        val_examples: Sequence[SftExample] = (),
    ) -> None:
        self.run_dir = run_dir
        self.tokenizer = tokenizer
        self.problems = heldout_problems(examples)
        # validation items (held out of training, not the test split): when given, the in-training
        # evaluations and the stop decision use them, and `run` (before/after) keeps the held-out ones
        self.val_problems = heldout_problems(val_examples) if val_examples else []
        self.metric = metric
        self.settings = sft_settings(metric, max_new_tokens)
        self.every = every
        self.stop_at = stop_at  # end training once held-out accuracy reaches this
        self.history: list[tuple[int, float]] = []
        self.val_history: list[tuple[int, float]] = []

    def run(self, model: Any, step: int) -> dict[str, Any]:
        if not self.problems:
            return {}
        with unsharded(model):  # FSDP: gathered once, as each process may decode a different length
            res = evaluator.evaluate(model, self.tokenizer, self.problems, self.settings)
        if self.history and self.history[-1][0] == step:
            self.history.pop()  # the final evaluation replaces an in-training one at the same step
        self.history.append((step, res["accuracy"]))
        self.run_dir.append_jsonl(
            self.run_dir.metrics_path,
            {
                "step": step,
                "heldout_accuracy": res["accuracy"],
                "heldout_checked": res["n_problems"] - res["unverifiable"],
                "heldout_format_rate": res["format_rate"],
            },
        )
        self.run_dir.append_jsonl(self.run_dir.samples_path, {"step": step, "samples": res["samples"]})
        return res

    def run_val(self, model: Any, step: int) -> dict[str, Any]:
        """Score the validation items: metrics as val_accuracy, samples marked "set": "validation"."""
        with unsharded(model):
            res = evaluator.evaluate(model, self.tokenizer, self.val_problems, self.settings)
        self.val_history.append((step, res["accuracy"]))
        self.run_dir.append_jsonl(
            self.run_dir.metrics_path,
            {"step": step, "val_accuracy": res["accuracy"], "val_format_rate": res["format_rate"]},
        )
        self.run_dir.append_jsonl(
            self.run_dir.samples_path, {"step": step, "set": "validation", "samples": res["samples"]}
        )
        return res

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step % self.every == 0 and state.global_step < state.max_steps:
            evaluate = self.run_val if self.val_problems else self.run
            res = evaluate(model, state.global_step)
            if self.stop_at is not None and res.get("accuracy", 0.0) >= self.stop_at:
                control.should_training_stop = True

    def plot(self) -> None:
        """plots/sft.png: loss and held-out accuracy over steps, from what the run logged."""
        import json

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = (
            [json.loads(x) for x in self.run_dir.metrics_path.read_text().splitlines() if x.strip()]
            if self.run_dir.metrics_path.is_file()
            else []
        )
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        loss = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        ev = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
        if loss:
            axes[0].plot(*zip(*loss), label="train")
        if ev:
            axes[0].plot(*zip(*ev), "o-", label="held-out")
        axes[0].set(xlabel="step", ylabel="loss", title="SFT loss")
        axes[0].legend()
        if self.history:
            axes[1].plot(*zip(*self.history), "o-", label="held-out")
        if self.val_history:
            axes[1].plot(*zip(*self.val_history), "s--", label="validation")
            axes[1].legend()
        axes[1].set(xlabel="step", ylabel=self.metric, title="held-out accuracy", ylim=(-0.02, 1.02))
        fig.tight_layout()
        self.run_dir.plots.mkdir(exist_ok=True)
        fig.savefig(self.run_dir.plots / "sft.png", dpi=100)
        plt.close(fig)
