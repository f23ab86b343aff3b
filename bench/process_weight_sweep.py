"""How much of the process advantage helps: `mixed` GRPO at several `process_weight`s, scored on
the VALIDATION split only (a diagnosis of bench_process_vs_outcome.py's missed targets: is the
step term's scale the reason process_rule does not pull ahead of outcome?).

From the bench's warm start (trained here if missing, as the bench does), with the RL settings
its tuning chose (`--tuned-from`, default the committed result): one run per weight and seed,
each the bench's full step budget, scored once at its end on the 200 validation items. Weight 0
is the outcome arm (`mixed` with no step term is `grpo`).

    python bench/process_weight_sweep.py [--weights 0 0.25 0.5 1 2] [--seeds 0 1] [--jobs 2]

Writes bench/results/process_weight_sweep.json (one row per weight: mean validation accuracy,
step and trace accuracy over the seeds, and every run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import bench_process_vs_outcome as bench  # noqa: E402
import process_tune  # noqa: E402
from common import RESULTS, ROOT, write_result  # noqa: E402
from process_arms import PROCESS, STEP_RULE, pool, run_tune  # noqa: E402


def overrides(weight: float, tuned: tuple[str, ...]) -> tuple[str, ...]:
    """Recipe overrides for one weight, after the outcome arm's (later overrides win)."""
    if weight == 0:
        return tuned
    return (
        f"rewards=[{{name: math_answer}}, {STEP_RULE}]",
        "algo.advantage=mixed",
        *PROCESS,
        f"algo.process_weight={weight}",
        *tuned,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tuned-from", default=str(RESULTS / "process_vs_outcome.json"))
    args = ap.parse_args(argv)
    if any(w < 0 for w in args.weights):
        raise SystemExit(f"--weights: must be >= 0, got {args.weights}")
    if 0 not in args.weights or not any(w > 0 for w in args.weights):
        raise SystemExit("--weights: give 0 (the outcome arm) and at least one weight above 0")
    prev = json.loads(Path(args.tuned_from).read_text())
    settings, tuned = process_tune.apply(bench.SETTINGS, prev["tuning"]["chosen"])
    bench.SETTINGS = settings
    sft, data, _ = bench.prepare(argparse.Namespace(gold=None, sft=None, base=None))
    jobs = [
        (run_tune, settings, bench.WORK, f"weight={w:g}", overrides(w, tuned), sd, sft, data)
        for w in args.weights
        for sd in args.seeds
    ]
    runs = pool(jobs, args.jobs)
    rows = []
    for w in args.weights:
        rs = [r for r in runs if r["name"] == f"weight={w:g}"]
        row = {"process_weight": w}
        for k in ("accuracy", "step_accuracy", "trace_accuracy"):
            row[f"val_{k}"] = round(statistics.mean(r["val"][k] for r in rs), 4)
        row["val_accuracy_by_seed"] = [r["val"]["accuracy"] for r in rs]
        row["zero_advantage_frac"] = round(statistics.mean(r["zero_advantage_frac"] or 0.0 for r in rs), 4)
        rows.append(row)
    start = bench.demo.evaluate_dir(sft, data["val"], settings, k=0)
    outcome = next(r for r in rows if r["process_weight"] == 0)
    best = max((r for r in rows if r["process_weight"] > 0), key=lambda r: r["val_accuracy"])
    write_result(
        "process_weight_sweep",
        f"validation accuracy of mixed GRPO at its best process_weight ({best['process_weight']:g})",
        "accuracy",
        best["val_accuracy"],
        "outcome-only GRPO (weight 0)",
        outcome["val_accuracy"],
        goal_ratio=1.0,
        higher_is_better=True,
        description="mixed GRPO (math_answer + rule steps) at several process_weights from the process "
        "bench's warm start, the bench's tuned RL settings, validation split only (a diagnosis: "
        "goal 1.0 = the step term at its best weight at least matches outcome-only)",
        rows=rows,
        extra={
            "seeds": args.seeds,
            "tuned_from": os.path.relpath(args.tuned_from, ROOT),
            "start_val": {k: start[k] for k in ("accuracy", "step_accuracy", "trace_accuracy")},
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
