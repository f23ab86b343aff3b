"""What the prm trainer learns from and is judged on: training rows, held-out and validation
traces (each with its first wrong step), ProcessBench-style evaluation and the loss plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from data_gen.datasets.load import load_stepwise
from rewards.prm.evaluate import calibrate_threshold, predicted_first_error, processbench_f1
from rewards.prm.model import PRMScorer
from rlhf.config.recipe import RunConfig

EvalTrace = tuple[str, list[str], int]  # prompt, steps, first wrong step (-1: none)


# ---------------------------------------------------------------------- data


def load_data(cfg: RunConfig) -> tuple[list[dict[str, Any]], list[EvalTrace], list[EvalTrace]]:
    """Training rows (stepwise), held-out test traces and validation traces (`prm.num_val`),
    each trace with its first wrong step."""
    p = cfg.prm
    if p.data == "generate":
        from data_gen.generate import generate
        from data_gen.inject import prm_rows, processbench_rows

        tasks = list(p.tasks)
        knobs = dict(p.knobs)
        items = generate(
            tasks, p.num_train + p.num_val, seed=cfg.run.seed, level=p.level, overrides=knobs, split="train"
        )
        eval_items = generate(
            tasks, p.num_eval, seed=cfg.run.seed, level=p.level, overrides=knobs, split="test"
        )
        rows = list(prm_rows(items[: p.num_train], p.corruptions))

        def traces(its: list[dict[str, Any]]) -> list[EvalTrace]:
            return [(r["problem"], list(r["steps"]), int(r["label"])) for r in processbench_rows(its)]

        return rows, traces(eval_items), traces(items[p.num_train :])
    rows = load_stepwise(p.format, p.train_file, p.neutral)  # every layout; bad rows counted
    if p.eval_file:
        held = load_stepwise(p.format, p.eval_file, p.neutral)
    else:
        cut = max(1, int(len(rows) * (1 - p.eval_fraction)))
        rows, held = rows[:cut], rows[cut:]
    if p.num_val >= len(rows):
        raise ValueError(f"prm.num_val {p.num_val} leaves no training rows (the file has {len(rows)})")
    val = rows[len(rows) - p.num_val :]
    rows = rows[: len(rows) - p.num_val]

    def traces(rs: list[dict[str, Any]]) -> list[EvalTrace]:
        return [(r["prompt"], list(r["completions"]), _first_bad(r["labels"])) for r in rs]

    return rows, traces(held), traces(val)


def _first_bad(labels: list[Any]) -> int:
    for i, label in enumerate(labels):
        if float(label) < 0.5:
            return i
    return -1


# ---------------------------------------------------------------------- evaluation


def evaluate(
    model: Any,
    tokenizer: Any,
    evals: list[EvalTrace],
    p: Any,
    device: torch.device,
    vals: list[EvalTrace] = (),
) -> dict[str, Any]:
    """ProcessBench-style metrics on held-out traces, plus step-level accuracy; with validation
    traces the threshold is calibrated on them first (best F1), else it is `prm.threshold`."""
    if not evals:
        return {"f1": float("nan"), "n_error": 0, "n_correct": 0, "threshold": p.threshold}
    scorer = PRMScorer(model, tokenizer, p.separator, p.max_length, p.eval_batch_size, device)
    threshold, val_f1 = p.threshold, None
    if vals:
        threshold, val_f1 = calibrate_threshold(
            scorer.score([e[0] for e in vals], [e[1] for e in vals]), [e[2] for e in vals]
        )
    scores = scorer.score([e[0] for e in evals], [e[1] for e in evals])
    model.train()
    labels = [e[2] for e in evals]
    predicted = [predicted_first_error(s, threshold) for s in scores]
    out: dict[str, Any] = processbench_f1(predicted, labels)
    if vals:  # the fixed threshold's result too, for comparison
        out["f1_at_fixed_threshold"] = processbench_f1(
            [predicted_first_error(s, p.threshold) for s in scores], labels
        )["f1"]
    out["threshold"], out["val_f1"] = threshold, val_f1
    right = total = 0
    for s, (_, _, label) in zip(scores, evals):  # steps up to and including the first wrong one
        upto = len(s) if label < 0 else label + 1
        for i, x in enumerate(s[:upto]):
            if x is not None:
                total += 1
                right += (x >= threshold) == (label < 0 or i < label)
    out["step_acc"] = right / total if total else float("nan")
    out["examples"] = [
        {
            "prompt": e[0],
            "steps": e[1],
            "label": e[2],
            "predicted": pr,
            "scores": [None if x is None else round(x, 3) for x in s],
        }
        for e, pr, s in list(zip(evals, predicted, scores))[:8]
    ]
    return out


# ---------------------------------------------------------------------- plot


def plot_losses(losses: list[float], path: Path) -> None:
    if not losses:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.8, label="step loss")
    k = max(1, len(losses) // 50)
    if k > 1:
        smooth = [
            sum(losses[max(0, i - k) : i + 1]) / len(losses[max(0, i - k) : i + 1])
            for i in range(len(losses))
        ]
        ax.plot(range(1, len(losses) + 1), smooth, lw=2, label=f"running mean ({k})")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("step cross-entropy")
    ax.set_title("PRM training loss")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
