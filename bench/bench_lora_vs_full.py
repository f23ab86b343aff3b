"""LoRA vs full finetune through the SFT trainer: peak memory and seconds per step.

Same model (a Qwen2-style model built here, large enough for Adam's state under full
finetuning to dominate: hidden 1024, 8 layers, ~107M parameters, fp32 on CPU: weights 0.4 GiB,
gradients 0.4 GiB and Adam's two moments 0.8 GiB, against short arithmetic sequences whose
activations are small), same data, same batch, same steps; each variant runs in its
own subprocess so one's memory never counts against the other. Peak memory is
`torch.cuda.max_memory_allocated` on a GPU; on CPU it is the rise of the process's
peak resident set (VmHWM, reset just before the run) over its size when the run starts.

    python bench/bench_lora_vs_full.py [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, write_result  # noqa: E402  (bench/common.py puts the repo on sys.path)

MODEL = dict(vocab_size=2048, hidden_size=1024, num_layers=8, num_heads=16, intermediate_size=2816)
GOAL_PEAK_SHARE = 0.6  # LoRA's peak at most this share of full finetuning's


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def worker(variant: str, model_dir: str, data: str, steps: int, out: str) -> dict:
    """One run of the SFT trainer; returns s/step (steady state) and peak memory (MiB)."""
    import torch

    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.sft import run

    lora = {
        "enabled": variant == "lora",
        "r": 16,
        "alpha": 32,
        "dropout": 0.1,
        "target_modules": ["q_proj", "v_proj"],
    }
    cfg = config.from_dict(
        RunConfig,
        {
            "trainer": "sft",
            "run": {"output_dir": out, "log_every": 1},
            "model": {"path": model_dir},
            "lora": lora,
            "train": {"lr": 1e-4, "lr_scheduler": "constant", "optimizer": "adamw_fused"},
            "sft": {
                "train_path": data,
                "max_steps": steps,
                "batch_size": 8,
                "eval_fraction": 0.0,
                "eval_max_items": 0,
                "max_length": 256,
            },
        },
    )
    rd = prepare_run_dir(cfg, out)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start_rss = _rss_kib("VmRSS")
    result = run(cfg, rd)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else (_rss_kib("VmHWM") - start_rss) / 1024
    rows = [json.loads(x) for x in rd.metrics_path.read_text().splitlines()]
    times = [r["step_time"] for r in rows if "step_time" in r][2:]  # first steps warm up allocators
    return {
        "variant": variant,
        "s_per_step": sum(times) / len(times),
        "peak_mib": peak,
        "trainable_params": result["trainable_params"],
        "train_loss": result["train_loss"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--worker", nargs=4, metavar=("VARIANT", "MODEL", "DATA", "OUT"))
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker[:3], args.steps, args.worker[3])))
        return
    from rlhf.models.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            {
                "prompt": f"Compute {a} * {b} + {a + b}.",
                "completion": f"<think>\nMultiply: {a} * {b} = {a * b}\nAdd: {a * b} + {a + b} = {a * b + a + b}\n"
                f"</think>\n<answer>{a * b + a + b}</answer>",
            }
            for a in range(40)
            for b in range(10)
        ]
        data = Path(tmp) / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        model_dir = build_tiny_model(
            Path(tmp) / "model", [r["prompt"] + r["completion"] for r in rows], **MODEL
        )
        results = {}
        for variant in ("lora", "full"):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--steps",
                    str(args.steps),
                    "--worker",
                    variant,
                    str(model_dir),
                    str(data),
                    str(Path(tmp) / f"run_{variant}"),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                sys.exit(f"{variant} worker failed:\n{proc.stderr[-3000:]}")
            results[variant] = json.loads(line[-1][7:])
    lora, full = results["lora"], results["full"]
    n_params = full["trainable_params"]
    write_result(
        "lora_vs_full",
        metric="peak training memory",
        unit="MiB",
        ours=lora["peak_mib"],
        peer="full finetune",
        peer_value=full["peak_mib"],
        goal_ratio=round(1 / GOAL_PEAK_SHARE, 4),  # ratio = full / LoRA peak: >= 1/0.6 means LoRA <= 0.6x
        higher_is_better=False,
        description=f"SFT trainer, LoRA r=16 on q_proj+v_proj vs full finetune, {n_params / 1e6:.1f}M-param "
        f"Qwen2-style model, batch 8, {args.steps} steps",
        rows=[lora, full],
        extra={
            "s_per_step_lora": lora["s_per_step"],
            "s_per_step_full": full["s_per_step"],
            "speed_ratio": full["s_per_step"] / lora["s_per_step"],
            "lora_peak_share_of_full": lora["peak_mib"] / full["peak_mib"],
            "notes": f"LoRA peak {lora['peak_mib']:.0f} MiB = {lora['peak_mib'] / full['peak_mib']:.2f}x full "
            f"finetuning's {full['peak_mib']:.0f} MiB (goal <= {GOAL_PEAK_SHARE}x); "
            f"LoRA trains {lora['trainable_params']:,} of {n_params:,} parameters; "
            f"s/step LoRA {lora['s_per_step']:.3f} vs full {full['s_per_step']:.3f}",
        },
    )


if __name__ == "__main__":
    main()
