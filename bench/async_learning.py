"""Does asynchronous GRPO learn as well as synchronous GRPO? The demo's task, same steps.

The demo's pipeline (rlhf/demo/pipeline.py): integer-arithmetic data, the SFT warm start of
the tiny model (once, seed 0), then for each GRPO seed two runs from that model with the
demo's GRPO recipe (recipes/grpo_process.yaml, outcome + step rewards, full finetuning):
`sync` (the demo as shipped) and `async` (train.async.enabled, max_staleness 1, algo.tis_cap 2,
truncated IS). Held-out accuracy (greedy, the demo's 200 test-split problems) is measured on
every checkpoint, and wall time per run. Target: async within 2 points of sync at equal steps.

    python bench/async_learning.py --steps 300 --seeds 0 1

Writes bench/results/async_learning.json (the benchmarks' schema: ours = async, peer = sync) and
bench/results/async_learning.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--out", default="runs/async_learning")
    ap.add_argument("--rewrite", help="rewrite the result from the runs in this JSON (an earlier run's)")
    args = ap.parse_args()
    if args.rewrite:
        old = json.loads(Path(args.rewrite).read_text())
        args.steps = old.get("steps", args.steps)
        write(old["runs"], args, old.get("sft_accuracy", old.get("extra", {}).get("sft_accuracy")))
        return

    import torch

    from rlhf.demo import pipeline as demo
    from rlhf.runtime.progress import quiet_libraries

    quiet_libraries()
    # the demo's settings as they were when BENCHMARKS.md's numbers were measured (its SFT stop
    # check, training-set size and rollout temperature have changed since), so a rerun reproduces them
    s = replace(
        demo.DemoSettings(),
        n_train=6000,
        n_val=64,
        sft_eval_every=100,
        grpo_temperature=0.7,
        grpo_async=False,  # the sync arm; the async arm adds demo.ASYNC (the demo's own async settings)
        grpo_steps=args.steps,
        eval_every=args.eval_every,
    )
    torch.set_num_threads(s.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = demo.make_data(s, out)
    sft_model = out / "sft" / "model"
    if not (sft_model / "config.json").is_file():
        demo.train(demo.sft_config(s, out, data["train"], data["val"]))
    runs = []
    for seed in args.seeds:
        for arm, extra in (("sync", ()), ("async", demo.ASYNC)):
            ss = replace(s, seed=seed)
            cfg = demo.grpo_config(ss, out / f"{arm}_seed{seed}", str(sft_model), data["train"], extra)
            t0 = time.perf_counter()
            res = demo.train(cfg)
            wall = time.perf_counter() - t0
            final = demo.evaluate_dir(res["model_dir"], data["heldout"], ss, k=0)
            curve = demo.checkpoint_curve(out / f"{arm}_seed{seed}", str(sft_model), data["heldout"], ss)
            runs.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "wall_s": wall,
                    "accuracy": final["accuracy"],
                    "curve": [{"step": st, "accuracy": a} for st, a, _ in curve],
                }
            )
            print(f"{arm} seed {seed}: accuracy {final['accuracy']:.3f} in {wall:.0f} s", flush=True)
            write(runs, args, demo.evaluate_dir(str(sft_model), data["heldout"], s, k=0)["accuracy"])


def write(runs: list[dict], args: argparse.Namespace, sft_acc: float) -> None:
    """bench/results/async_learning.json in the benchmarks' schema (ours: async, peer: sync), and the plot."""
    from bench.common import write_result

    by = {arm: [r for r in runs if r["arm"] == arm] for arm in ("sync", "async")}
    mean = {arm: sum(r["accuracy"] for r in rs) / len(rs) for arm, rs in by.items() if rs}
    wall = {arm: sum(r["wall_s"] for r in rs) / len(rs) for arm, rs in by.items() if rs}
    sync_acc, async_acc = mean.get("sync", float("nan")), mean.get("async", float("nan"))
    seeds = sorted({r["seed"] for r in runs})
    steps = sorted({c["step"] for r in runs for c in r["curve"]})
    rows = [{"step": st, **{f"{r['arm']} seed {r['seed']}": _at(r, st) for r in runs}} for st in [0, *steps]]
    for r in runs:  # step 0 is the shared SFT model
        rows[0][f"{r['arm']} seed {r['seed']}"] = sft_acc
    rows.append({"step": "wall s", **{f"{r['arm']} seed {r['seed']}": round(r["wall_s"], 1) for r in runs}})
    write_result(
        name="async_learning",
        metric="held-out accuracy after equal GRPO steps",
        unit="accuracy",
        ours=async_acc,
        peer="synchronous GRPO",
        peer_value=sync_acc,
        goal_ratio=round((sync_acc - 0.02) / sync_acc, 4) if sync_acc > 0.02 else 0.0,
        higher_is_better=True,
        description=f"the demo's task and GRPO recipe from one SFT model (accuracy {sft_acc:.3f}), "
        f"{args.steps} steps, GRPO seeds {seeds}; async = train.async (process sampler, staleness 1, "
        "tis_cap 2, truncate); held-out accuracy (greedy, 200 test-split problems) per checkpoint; "
        "goal: async at most 2 points below sync (goal_ratio = (sync - 0.02) / sync)",
        rows=rows,
        extra={
            "gap_points": round(100 * (async_acc - sync_acc), 1),
            "mean_wall_s": wall,
            "runs": runs,
            "sft_accuracy": sft_acc,
            "plot": "bench/results/async_learning.png",
            "load_average": os.getloadavg(),
            "notes": f"mean held-out accuracy: async {async_acc:.3f} vs sync {sync_acc:.3f} "
            f"({100 * (async_acc - sync_acc):+.1f} points) after {args.steps} steps; mean wall time "
            f"per GRPO run async {wall.get('async', float('nan')):.0f} s vs sync {wall.get('sync', float('nan')):.0f} s "
            "on a 2-core machine shared with other jobs.\n\n![async vs sync held-out accuracy](bench/results/async_learning.png)",
        },
    )
    plot(runs, sft_acc, RESULTS / "async_learning.png")


def _at(run: dict, step: int) -> float | str:
    for c in run["curve"]:
        if c["step"] == step:
            return c["accuracy"]
    return ""


def plot(runs: list[dict], sft_acc: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        xs = [0] + [c["step"] for c in r["curve"]]
        ys = [sft_acc] + [c["accuracy"] for c in r["curve"]]
        ax.plot(xs, ys, "-" if r["arm"] == "sync" else "--", marker="o", label=f"{r['arm']} seed {r['seed']}")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("held-out accuracy (greedy)")
    ax.set_title("GRPO on the demo task: synchronous vs asynchronous")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
