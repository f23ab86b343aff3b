"""`make demo` over several seeds: the spread the README states for the demo's gain.

Each seed runs the demo as a user runs it, `python -m rlhf.demo --out runs/demo_sN --set seed=N`
(seed 0 is `make demo`'s own setting), up to `--jobs` at once; then every run's report.json is
read into docs/demo/seeds.json: per seed the SFT stop step, held-out accuracy before and after
GRPO, the gain in points, step accuracy, the held-out curve over GRPO checkpoints, wall time per
stage and the load average at the end; over seeds the gain's mean, min and max.

    python bench/demo_seeds.py --seeds 0 1 2 --jobs 2
    python bench/demo_seeds.py --seeds 0 1 2 --collect     # rewrite the JSON from existing runs

Wall times are comparable only between runs that ran alone; runs side by side share the cores
(the async GRPO stage uses two processes); each run's load average at its end is recorded.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "demo" / "seeds.json"


def command(seed: int) -> list[str]:
    return ["-m", "rlhf.demo", "--out", f"runs/demo_s{seed}", "--set", f"seed={seed}"]


def run_seeds(seeds: list[int], jobs: int) -> None:
    """Start each seed's demo, `jobs` at a time; stop at the first that fails, naming it."""
    pending, running = list(seeds), []
    logs = ROOT / "runs" / "demo_seeds_logs"
    logs.mkdir(parents=True, exist_ok=True)
    while pending or running:
        while pending and len(running) < jobs:
            seed = pending.pop(0)
            log = (logs / f"seed{seed}.log").open("w")
            proc = subprocess.Popen(
                [sys.executable, *command(seed)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
            running.append((seed, proc, log))
            print(f"seed {seed}: started ({' '.join(command(seed))}), log {log.name}", flush=True)
        time.sleep(5)
        for item in list(running):
            seed, proc, log = item
            if proc.poll() is None:
                continue
            log.close()
            running.remove(item)
            if proc.returncode != 0:
                for _, other, _ in running:
                    other.terminate()
                raise SystemExit(f"demo_seeds: seed {seed} failed (exit {proc.returncode}); see {log.name}")
            print(f"seed {seed}: done", flush=True)


def row(seed: int) -> dict[str, Any]:
    path = ROOT / "runs" / f"demo_s{seed}" / "report.json"
    if not path.is_file():
        raise SystemExit(
            f"demo_seeds: no report for seed {seed} ({path.relative_to(ROOT)}); run without --collect"
        )
    r = json.loads(path.read_text())
    return {
        "seed": seed,
        "command": "python " + " ".join(command(seed)),
        "sft_steps": r["sft"]["steps"],
        "accuracy_before": r["accuracy_before"],
        "accuracy_after": r["accuracy_after"],
        "gain_points": r["accuracy_gain_points"],
        "step_accuracy_before": round(r["step_accuracy_before"], 3),
        "step_accuracy_after": round(r["step_accuracy_after"], 3),
        "format_rate_after": r["eval_after"].get("format_rate"),
        "heldout_curve": [c["accuracy"] for c in r["heldout_curve"]],
        "wall_s": r["wall_s"]["total"],
        "wall_s_stages": r["wall_s"],
        "load_average_at_end": r["machine"]["load"],
        "grpo_async": r["settings"].get("grpo_async", False),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="demos at once")
    ap.add_argument("--collect", action="store_true", help="only read the runs' reports")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not args.collect:
        run_seeds(args.seeds, args.jobs)
    runs = [row(s) for s in args.seeds]
    gains = [r["gain_points"] for r in runs]
    res = {
        "what": "make demo's pipeline at several seeds (the seed sets the data, the model init and sampling)",
        "command": f"python bench/demo_seeds.py --seeds {' '.join(map(str, args.seeds))} --jobs {args.jobs}",
        "machine": platform.platform(),
        "runs": runs,
        "gain_points_mean": round(sum(gains) / len(gains), 2),
        "gain_points_min": min(gains),
        "gain_points_max": max(gains),
    }
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n")
    tmp.replace(args.out)
    for r in runs:
        print(
            f"seed {r['seed']}: SFT {r['sft_steps']} steps, {r['accuracy_before']:.3f} -> {r['accuracy_after']:.3f} "
            f"({r['gain_points']:+.1f}), {r['wall_s']:.0f} s"
        )
    print(f"gain mean {res['gain_points_mean']:+.1f}, min {res['gain_points_min']:+.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
