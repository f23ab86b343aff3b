"""Where an RL step's time goes (rollout, reward, update, weight sync) as model and group size grow.

Not a peer comparison (so not a `bench_*` benchmark): it runs short GRPO runs of
`recipes/grpo_outcome.yaml` on the tiny model family with a few sizes and group sizes, one
process and (for one size) two processes under `accelerate launch`, reads each run's
metrics.jsonl, and writes the mean per-step split (steps after the first) to
docs/scaling_split.json. docs/SCALING.md quotes it.

    python bench/scaling_split.py [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("time_rollout", "time_reward", "time_update", "time_sync", "seconds", "rollout_tokens")
# (hidden size, layers, group size n, processes)
GRID = [(128, 2, 4, 1), (128, 2, 8, 1), (128, 2, 16, 1), (256, 4, 8, 1), (512, 4, 8, 1), (128, 2, 8, 2)]


def run_one(hidden: int, layers: int, n: int, procs: int, steps: int, out: Path) -> dict[str, float]:
    args = [
        "-m",
        "rlhf.cli.main",
        "train",
        str(ROOT / "recipes" / "grpo_outcome.yaml"),
        f"run.output_dir={out}",
        "model.path=tiny",  # timing only: a random model of each size
        f"train.steps={steps}",
        "run.save_every=0",
        f"rollout.n={n}",
        f"tiny.hidden_size={hidden}",
        f"tiny.num_heads={hidden // 64}",
        f"tiny.num_layers={layers}",
        f"tiny.intermediate_size={hidden * 2}",
        "data.curriculum.enabled=false",
        "rollout.max_new_tokens=64",
        "lora.enabled=true",  # the split docs/SCALING.md reports: LoRA r=16 on q/k/v/o, temperature 1.0
        "lora.target_modules=[q_proj,k_proj,v_proj,o_proj]",
        "rollout.temperature=1.0",
    ]
    if procs > 1:
        cfg = ROOT / "recipes" / "accelerate" / "ddp_cpu_2proc.yaml"
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(cfg), *args]
    else:
        cmd = [sys.executable, *args]
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()][1:]
    mean = {k: sum(r[k] for r in recs) / len(recs) for k in KEYS}
    mean["wall_s"] = time.perf_counter() - t0
    return mean


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    steps = ap.parse_args().steps
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (hidden, layers, n, procs) in enumerate(GRID):
            m = run_one(hidden, layers, n, procs, steps, Path(tmp) / f"r{i}")
            row = {"hidden": hidden, "layers": layers, "n": n, "processes": procs, **m}
            rows.append(row)
            parts = " ".join(f"{k.removeprefix('time_')}={m[k]:.3f}s" for k in KEYS[:4])
            print(
                f"hidden={hidden} layers={layers} n={n} procs={procs}: {parts} step={m['seconds']:.3f}s "
                f"tokens/step={m['rollout_tokens']:.0f}",
                flush=True,
            )
    out = ROOT / "docs" / "scaling_split.json"  # not a peer benchmark: kept out of bench/results
    out.write_text(
        json.dumps(
            {
                "name": "scaling_split",
                "steps": steps,
                "rows": rows,
                "machine": f"{platform.machine()} {os.cpu_count()} cpus, shared",
                "recipe": "recipes/grpo_outcome.yaml (LoRA, math_answer, transformers sampler)",
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
