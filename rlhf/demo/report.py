"""The demo's report: report.json, report.md and PNG plots in the demo directory.

Plots: `plots/grpo_curves.png` (reward, rollout accuracy, KL, length over GRPO steps, read
from the GRPO run's metrics.jsonl), `plots/heldout_accuracy.png` (held-out accuracy and step
accuracy at each evaluated GRPO checkpoint, step 0 being the SFT model), and the GRPO
trainer's own `training_curves.png` copied alongside.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from data_gen.writers import atomic_write_text
from rlhf.runtime.metrics import read_metrics

CURVES = (
    ("reward_mean", "reward (weighted outcome rewards)"),
    ("accuracy", "rollout accuracy"),
    ("kl", "KL to SFT model"),
    ("response_len_mean", "completion length (tokens)"),
    ("step_reward/rule/mean", "rule step reward"),
    ("seconds", "seconds per step"),
)


def write_report(report: dict[str, Any], out: Path) -> None:
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    names = _plots(report, out, plots)
    report["plots"] = names
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=_json))
    atomic_write_text(out / "report.md", markdown(report))


def _plots(report: dict[str, Any], out: Path, plots: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    rows = read_metrics(out / "grpo" / "metrics.jsonl")
    fig, axes = plt.subplots(2, 3, figsize=(12, 5.6))
    for ax, (key, title) in zip(axes.flat, CURVES):
        pts = [
            (r["step"], r[key])
            for r in rows
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        ]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, linewidth=1.0, alpha=0.5)
            if len(ys) >= 5:  # a short moving average makes the trend readable
                w = 5
                ax.plot(
                    xs[w - 1 :], [sum(ys[i - w + 1 : i + 1]) / w for i in range(w - 1, len(ys))], linewidth=2
                )
        ax.set(title=title, xlabel="GRPO step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(plots / "grpo_curves.png", dpi=100)
    plt.close(fig)
    names.append("plots/grpo_curves.png")

    curve = report.get("heldout_curve") or []
    if curve:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        xs = [c["step"] for c in curve]
        ax.plot(xs, [c["accuracy"] for c in curve], "o-", label="answer accuracy")
        ax.plot(xs, [c["step_accuracy"] for c in curve], "s--", label="step accuracy (rule verifier)")
        ax.set(
            xlabel="GRPO step (0 = SFT model)",
            ylabel="held-out",
            ylim=(0, 1.02),
            title=f"held-out, {report['data']['n_heldout']} problems (greedy)",
        )
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(plots / "heldout_accuracy.png", dpi=100)
        plt.close(fig)
        names.append("plots/heldout_accuracy.png")
    own = out / "grpo" / "plots" / "training_curves.png"
    if own.is_file():
        shutil.copyfile(own, plots / "grpo_training_curves.png")
        names.append("plots/grpo_training_curves.png")
    sft_plot = out / "sft" / "plots" / "sft.png"
    if sft_plot.is_file():
        shutil.copyfile(sft_plot, plots / "sft.png")
        names.append("plots/sft.png")
    return names


def markdown(r: dict[str, Any]) -> str:
    s, b, a = r["settings"], r["eval_before"], r["eval_after"]
    k = s["k"]
    lines = [
        "# cotrl demo report",
        "",
        f"Task `{s['task']}` (knobs `{s['knobs']}`): {r['data']['n_train']} training problems, "
        f"{r['data']['n_heldout']} held-out problems from the generator's disjoint test split.",
        f"Tiny Qwen2-style model built locally; SFT warm start (recipes/sft_warmstart.yaml) for "
        f"{r['sft']['steps']} steps (it stops once accuracy on {s['n_val']} validation items reaches "
        f"{s['sft_stop_at']:.0%}, at most {s['sft_steps']}: RL needs headroom), then GRPO {s['grpo_steps']} steps with outcome `math_answer` + "
        f"step `rule` rewards through the `mixed` advantage (recipes/grpo_process.yaml), "
        f"{s['prompts_per_step']} prompts x {s['group_size']} samples per step, lr {s['grpo_lr']}"
        + (
            ", rollouts sampled one policy version ahead in a second process (train.async)."
            if s.get("grpo_async")
            else "."
        ),
        "",
        "| held-out metric | SFT model | GRPO model |",
        "|---|---:|---:|",
    ]
    keys = [
        "accuracy",
        "step_accuracy",
        "trace_accuracy",
        f"pass@{k}",
        f"maj@{k}",
        "mean_length",
        "truncation_rate",
    ]
    for key in keys:
        if key in b or key in a:
            lines.append(f"| {key} | {_fmt(b.get(key))} | {_fmt(a.get(key))} |")
    lines += [
        "",
        f"Accuracy gain: **{r['accuracy_gain_points']:+.1f} points** "
        f"({_fmt(r['accuracy_before'])} -> {_fmt(r['accuracy_after'])}).",
        "",
        "Held-out accuracy over GRPO steps (greedy):",
        "",
        "| step | accuracy | step accuracy |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {c['step']} | {_fmt(c['accuracy'])} | {_fmt(c['step_accuracy'])} |" for c in r["heldout_curve"]
    ]
    w = r["wall_s"]
    lines += [
        "",
        "Wall time (seconds): " + ", ".join(f"{k} {v}" for k, v in w.items()),
        f"Machine: {r['machine']['platform']}, load average at the end {r['machine']['load']}.",
        "",
    ]
    lines += [f"![{Path(p).stem}]({p})" for p in r.get("plots", [])]
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.3f}"
    return "n/a" if v is None else str(v)


def _json(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return str(v)
