"""FSDP2 against DDP on two CPU processes (gloo), both launched by `accelerate launch`.

Two measurements, each under recipes/accelerate/ddp_cpu_2proc.yaml and fsdp2_cpu_2proc.yaml:
1. `bench/fsdp_worker.py` on a Qwen2 model (hidden 512, 4 layers, vocab 4096, untied: 17.8M parameters),
   batch 4 x 128 tokens, 4 updates: per process, the training state it holds (parameters,
   gradients, AdamW moments, counted from its own tensors), peak RSS, and the time split
   (forward+backward, clip+step, full-weights gather to rank 0, weights checksum).
2. A real `cotrl train` GRPO run of the tiny test recipe (3 steps): the per-step split from
   metrics.jsonl (rollout, update, sync, whole step), steps after the first.

The headline is the training state per process: FSDP2 should hold half of DDP's on 2 processes.

    python bench/bench_fsdp.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, write_result

CONFIGS = {"ddp": "ddp_cpu_2proc.yaml", "fsdp2": "fsdp2_cpu_2proc.yaml"}
SIZE = ("512", "4", "4")  # hidden, layers, updates


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )


def _launch(config: str, args: list[str]) -> subprocess.CompletedProcess:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "recipes" / "accelerate" / config),
    ]
    res = subprocess.run(
        [*cmd, "--main_process_port", port, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return res


def worker_rows() -> list[dict]:
    rows = []
    for name, config in CONFIGS.items():
        out = _launch(config, [str(ROOT / "bench" / "fsdp_worker.py"), *SIZE]).stdout
        for rec in sorted(
            (json.loads(x) for x in out.splitlines() if x.startswith("{")), key=lambda r: r["rank"]
        ):
            rec["state_mib"] = rec["param_mib"] + rec["grad_mib"] + rec["adam_mib"]
            rows.append({"launch": name, **{k: v for k, v in rec.items() if k != "layout"}})
    return rows


def grpo_rows() -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from tests.rlhf.trainers.rl_helpers import recipe

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        r = recipe(Path(tmp), "grpo", "  cpu_threads: 1\n")
        for name, config in CONFIGS.items():
            run = Path(tmp) / name
            _launch(config, ["-m", "rlhf.cli.main", "train", str(r), f"run.output_dir={run}"])
            recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][1:]
            rows.append(
                {
                    "launch": name,
                    "grpo_step_s": _mean(recs, "seconds"),
                    "rollout_s": _mean(recs, "time_rollout"),
                    "update_s": _mean(recs, "time_update"),
                    "sync_s": _mean(recs, "time_sync"),
                }
            )
    return rows


def _mean(recs: list[dict], key: str) -> float:
    return sum(m[key] for m in recs) / len(recs)


def main() -> None:
    workers = worker_rows()
    grpo = grpo_rows()
    state = {r["launch"]: r["state_mib"] for r in workers if r["rank"] == 0}
    write_result(
        name="fsdp_vs_ddp",
        metric="training state per process (params+grads+AdamW), 2 CPU processes",
        unit="MiB",
        ours=state["fsdp2"],
        peer="DDP (same launch, accelerate)",
        peer_value=state["ddp"],
        goal_ratio=1.8,
        higher_is_better=False,
        description=(
            "FSDP2 (recipes/accelerate/fsdp2_cpu_2proc.yaml) against DDP (ddp_cpu_2proc.yaml) on 2 CPU "
            f"processes over gloo; worker rows: Qwen2 hidden {SIZE[0]}, {SIZE[1]} layers, batch 4x128, "
            f"{SIZE[2]} updates (means over updates 2..); grpo rows: the tiny test recipe, 3 steps "
            "(means over steps 2..). gather_full_s is full_state_dict to rank 0 (cpu_offload), what the "
            "final model and a rank-0 engine read; the colocated vLLM sync gathers on every process."
        ),
        rows=workers + grpo,
    )


if __name__ == "__main__":
    main()
