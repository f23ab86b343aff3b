"""Process-supervised vs outcome-only GRPO from the same SFT checkpoint, same budget, several seeds.

Both arms run recipes/grpo_process.yaml through the demo's pipeline functions (the same data,
SFT model and settings as `make demo`); they differ only in what is rewarded:
- outcome: rewards [math_answer], advantage grpo;
- process: rewards [math_answer, rule], advantage mixed (the recipe as written).
Held-out accuracy (greedy, data_gen's test split) is measured at every `eval_every`-th checkpoint.
Goal: the process arm reaches the outcome arm's final accuracy (mean over seeds) in at most
60% of the steps. `ours` = steps the process arm needed (mean curve), `peer_value` = the
step budget; ratio = budget / steps (goal 1/0.6). Not reached within the budget counts as the
whole budget (ratio 1) and is said so in `extra.notes`.

    python bench/bench_process_vs_outcome.py [--steps 1000] [--seeds 0 1] [--jobs 2] [--sft DIR]

`--jobs N` (default: one per core) runs N arms at once in separate processes, one torch
thread each as in the demo; the wall times it records are then those of runs sharing the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, write_result  # noqa: E402  (also puts the repo on sys.path)

from rlhf import demo  # noqa: E402
from rlhf.runtime.metrics import read_metrics  # noqa: E402

WORK = ROOT / "runs" / "bench_process_vs_outcome"
ARMS = {"outcome": ["rewards=[{name: math_answer}]", "algo.advantage=grpo"], "process": []}


def run_arm(s: demo.DemoSettings, arm: str, seed: int, sft_model: str, data: dict) -> dict:
    out = WORK / f"{arm}_seed{seed}"
    cfg = demo.grpo_config(dataclasses.replace(s, seed=seed), out, sft_model, data["train"], tuple(ARMS[arm]))
    t0 = time.perf_counter()
    demo.train(cfg)
    wall = time.perf_counter() - t0
    curve = demo.checkpoint_curve(out, sft_model, data["heldout"], s)
    secs = [r.get("seconds", 0.0) for r in read_metrics(out / "metrics.jsonl")]
    cum = [sum(secs[:i]) for i in range(len(secs) + 1)]
    curve = [(0, *_sft_point(sft_model, data, s))] + curve
    return {
        "arm": arm,
        "seed": seed,
        "wall_s": round(wall, 1),
        "curve": [
            {"step": st, "accuracy": a, "step_accuracy": sa, "train_s": round(cum[min(st, len(secs))], 1)}
            for st, a, sa in curve
        ],
    }


_SFT_CACHE: dict[str, tuple[float, float]] = {}


def _repo_relative(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name


def _sft_point(sft_model: str, data: dict, s: demo.DemoSettings) -> tuple[float, float]:
    """Held-out accuracy of the shared starting point (step 0 of every curve), measured once."""
    if sft_model not in _SFT_CACHE:
        res = demo.evaluate_dir(sft_model, data["heldout"], s, k=0)
        _SFT_CACHE[sft_model] = (res["accuracy"], res["step_accuracy"])
    return _SFT_CACHE[sft_model]


def mean_curve(runs: list[dict]) -> list[tuple[int, float]]:
    steps = [p["step"] for p in runs[0]["curve"]]
    return [(st, sum(r["curve"][i]["accuracy"] for r in runs) / len(runs)) for i, st in enumerate(steps)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=demo.DemoSettings.grpo_steps)
    ap.add_argument("--eval-every", type=int, default=demo.DemoSettings.eval_every)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--resummarize", action="store_true", help="recompute the result from the recorded runs")
    ap.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="runs at once, each in its own process with one torch thread (default: one per core)",
    )
    ap.add_argument("--sft", help="SFT model dir to start from (default: the demo's, trained here if absent)")
    args = ap.parse_args(argv)
    s = dataclasses.replace(demo.DemoSettings(), grpo_steps=args.steps, eval_every=args.eval_every)
    if args.resummarize:  # recompute the verdict from the runs a previous invocation recorded
        prev = json.loads((RESULTS / "process_vs_outcome.json").read_text())
        runs, sft_model = prev["runs"], prev["sft_model"]
        s = demo.DemoSettings(**prev["settings"])
        args.steps = s.grpo_steps
    else:
        WORK.mkdir(parents=True, exist_ok=True)
        data = demo.make_data(s, WORK)
        sft_model = args.sft or str(ROOT / "runs" / "demo" / "sft" / "model")
        if not (Path(sft_model) / "config.json").is_file():
            sft_model = demo.train(demo.sft_config(s, WORK, data["train"], data["val"]))["outputs"]["model"]
        todo = [(s, arm, seed, sft_model, data) for seed in args.seeds for arm in ARMS]
        if min(args.jobs, len(todo)) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(args.jobs, len(todo)), mp_context=mp.get_context("spawn")) as pool:
                runs = list(pool.map(run_arm, *zip(*todo)))  # the trainer sets its thread count
        else:
            runs = [run_arm(*t) for t in todo]
    by_arm = {arm: [r for r in runs if r["arm"] == arm] for arm in ARMS}
    outcome, process = mean_curve(by_arm["outcome"]), mean_curve(by_arm["process"])
    start, target = outcome[0][1], outcome[-1][1]
    improved = target > start  # without an outcome-only gain there is nothing to reach faster
    reached = next((st for st, a in process if st > 0 and a >= target), None) if improved else None
    steps_needed = reached if reached is not None else args.steps
    rows = [
        {"step": st, "outcome_acc": round(a, 3), "process_acc": round(b, 3)}
        for (st, a), (_, b) in zip(outcome, process)
    ]
    wall = {arm: round(sum(r["wall_s"] for r in rs) / len(rs), 1) for arm, rs in by_arm.items()}
    if not improved:
        verdict = (
            f"the outcome-only arm did not improve on the SFT model ({start:.3f} -> {target:.3f}), so the goal's "
            f"premise failed; process-supervised ended at {process[-1][1]:.3f}; counted as not met"
        )
    elif reached is not None:
        verdict = f"process-supervised reached the outcome-only final {target:.3f} at step {reached} of {args.steps}"
    else:
        verdict = (
            f"process-supervised did not reach the outcome-only final {target:.3f} within {args.steps} steps "
            f"(final {process[-1][1]:.3f})"
        )
    notes = (
        f"held-out accuracy, mean of seeds {sorted({r['seed'] for r in runs})}, from {start:.3f}: {verdict}; "
        f"mean wall s per run: outcome {wall['outcome']}, process {wall['process']}"
    )
    _plot(by_arm, target, RESULTS / "process_vs_outcome.png")
    write_result(
        "process_vs_outcome",
        "GRPO steps to reach the outcome-only final held-out accuracy",
        "steps",
        float(steps_needed),
        "outcome-only GRPO (step budget)",
        float(args.steps),
        goal_ratio=round(1 / 0.6, 4),
        higher_is_better=False,
        description="process-supervised (math_answer + rule step rewards, mixed advantage) vs outcome-only "
        "GRPO from the same SFT checkpoint, same steps, held-out accuracy vs steps",
        rows=rows,
        extra={
            "notes": notes,
            "runs": runs,
            "wall_s_mean": wall,
            "start_accuracy": start,
            "target_accuracy": target,
            "outcome_improved": improved,
            "reached_step": reached,
            "settings": dataclasses.asdict(s),
            "sft_model": _repo_relative(sft_model),  # no machine paths in committed results
            "plot": "bench/results/process_vs_outcome.png",
        },
    )
    print(notes)
    return 0


def _plot(by_arm: dict, target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = {"outcome": "tab:blue", "process": "tab:orange"}
    for arm, rs in by_arm.items():
        for r in rs:
            xs = [p["step"] for p in r["curve"]]
            ts = [p["train_s"] for p in r["curve"]]
            ys = [p["accuracy"] for p in r["curve"]]
            label = f"{arm}" if r is rs[0] else None
            axes[0].plot(xs, ys, "o-", color=colors[arm], alpha=0.7, label=label)
            axes[1].plot(ts, ys, "o-", color=colors[arm], alpha=0.7, label=label)
    for ax, xl in zip(axes, ("GRPO step", "training wall time (s)")):
        ax.axhline(target, color="gray", linestyle=":", label="outcome-only final (mean)")
        ax.set(xlabel=xl, ylabel="held-out accuracy", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
