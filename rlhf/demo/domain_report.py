"""The domain demo's report: report.json, report.md and PNG plots in the run directory.

Plots: `plots/stages.png` (domain and general held-out accuracy of the general model, the
LoRA SFT adapter and the merged GRPO model), `plots/mix_sweep.png` (domain accuracy against
general accuracy for each SFT domain share: the trade-off between gain and retention), and
`plots/grpo_curves.png` (reward, rollout accuracy, KL to the SFT model, rule step reward).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from data_gen.writers import atomic_write_text
from rlhf.runtime.metrics import read_metrics

GRPO_CURVES = (
    ("reward_mean", "reward"),
    ("accuracy", "rollout accuracy"),
    ("kl", "KL to the SFT model"),
    ("step_reward/rule/mean", "rule step reward"),
)


def write_domain_report(report: dict[str, Any], out: Path) -> None:
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    report["plots"] = _plots(report, out, plots)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "report.md", markdown(report))


def _plots(report: dict[str, Any], out: Path, plots: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    stages = ("base", "sft", "final")
    for k, which in enumerate(("domain", "general")):
        vals = [report["evals"][st][which]["accuracy"] for st in stages]
        ax.bar([i + 0.38 * k for i in range(3)], vals, width=0.36, label=f"{which} held-out")
    ax.set_xticks([i + 0.19 for i in range(3)], ["general model", "LoRA SFT", "GRPO (merged)"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend()
    ax.set_title(f"{report['domain']}: domain gain and general retention")
    fig.tight_layout()
    fig.savefig(plots / "stages.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    pts = report["mix_sweep"]
    ax.plot([p["general_accuracy"] for p in pts], [p["domain_accuracy"] for p in pts], "o-")
    for p in pts:
        ax.annotate(f"{p['domain_share']:.0%}", (p["general_accuracy"], p["domain_accuracy"]))
    ax.axvline(report["general_accuracy_base"], color="grey", linestyle=":", label="general model")
    ax.set_xlabel("general held-out accuracy")
    ax.set_ylabel("domain held-out accuracy")
    ax.set_title("SFT domain share: gain vs retention")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plots / "mix_sweep.png", dpi=110)
    plt.close(fig)

    rows = read_metrics(out / report["grpo"]["run"] / "metrics.jsonl")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3))
    for ax, (key, title) in zip(axes, GRPO_CURVES):
        xy = [
            (r["step"], r[key])
            for r in rows
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        ]
        if xy:
            ax.plot(*zip(*xy), linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
    fig.tight_layout()
    fig.savefig(plots / "grpo_curves.png", dpi=110)
    plt.close(fig)
    return ["plots/stages.png", "plots/mix_sweep.png", "plots/grpo_curves.png"]


def _num(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "-"


def markdown(r: dict[str, Any]) -> str:
    s = r["settings"]
    lines = [
        f"# cotrl domain demo: {r['domain']}",
        "",
        f"General model: {r['general_model']['path']} ({r['general_model']['from']}). LoRA SFT on a mix with "
        f"domain share {s['domain_share']:g} ({s['sft_steps']} steps), GRPO with LoRA from the SFT adapter "
        f"({s['grpo_steps']} steps, math_answer + rule step verifier, KL coefficient {s['grpo_kl']:g} "
        f"against the SFT model, lr {r['grpo']['lr']:g} chosen on the validation file; prompts: "
        + (
            f"{s['n_rl']} domain items never in SFT"
            if r["data"].get("rl", r["data"]["train"]) != r["data"]["train"]
            else "the SFT's domain items"
        )
        + "), exported merged, evaluated greedily.",
        "",
        "| model | domain held-out | general held-out |",
        "|---|---|---|",
    ]
    for name, key in (("general model", "base"), ("LoRA SFT", "sft"), ("GRPO, merged", "final")):
        e = r["evals"][key]
        lines.append(f"| {name} | {e['domain']['accuracy']:.3f} | {e['general']['accuracy']:.3f} |")
    lines += ["", "GRPO learning rate (validation file, never the held-out sets):", ""]
    lines += [
        "| lr | validation accuracy | final KL | final rollout accuracy | run s |",
        "|---|---|---|---|---|",
    ]
    for c in r["grpo"]["lr_search"]:
        f = c.get("final") or {}
        lines.append(
            f"| {c['lr']:g} | {c['val_accuracy']:.3f} | {_num(f.get('kl'))} | {_num(f.get('accuracy'))} "
            f"| {c.get('wall_s', '-')} |"
        )
    lines += [
        "",
        "Mix sweep (SFT only, same step budget):",
        "",
        "| domain share | domain | general | run s |",
        "|---|---|---|---|",
    ]
    for p in r["mix_sweep"]:
        lines.append(
            f"| {p['domain_share']:g} | {p['domain_accuracy']:.3f} | {p['general_accuracy']:.3f} "
            f"| {p.get('wall_s', '-')} |"
        )
    jobs = s.get("jobs", 1) or "one per core"
    lines += [
        "",
        f"Wall time per stage (s; runs at once: {jobs}, so the SFT runs of the sweep overlap the SFT and GRPO "
        "stages, and each stage's time is the wait for its own runs; each run's own time is in the tables above):",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in r["wall_s"].items()]
    lines += ["", *[f"![{p}]({p})" for p in r.get("plots", [])], ""]
    if s.get("quick"):
        lines.insert(2, "**--quick run: tiny settings; these numbers mean nothing.**\n")
    return "\n".join(lines)
