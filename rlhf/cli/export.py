"""`cotrl export RUN_DIR OUT`: fold a finished LoRA run's adapter into its base model.

The result is a plain HF directory (config, safetensors, tokenizer) that transformers
and vLLM load without peft. The base is the one the run trained on: `model.path`
from the run's resolved config, or the tiny model the run built in `base_model/`.
"""

from __future__ import annotations

from pathlib import Path

from rlhf.models import adapters
from rlhf.models.adapters import base_model_of


def export_run(run_dir: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    run = Path(run_dir)
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it")
    adapter = run / adapters.ADAPTER_DIR
    if not (adapter / "adapter_config.json").is_file():
        full = run / adapters.FULL_DIR
        hint = f" (it is a full finetune: {full} is already a plain HF directory)" if full.is_dir() else ""
        raise ValueError(f"{run} holds no LoRA adapter in {adapters.ADAPTER_DIR}/{hint}")
    base, dtype = base_model_of(run)
    return adapters.merge_adapter(base, adapter, target, dtype)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="merge a LoRA run's adapter into its base model (a plain HF dir)"
    )
    p.add_argument("run_dir", help="a run directory written by a LoRA recipe")
    p.add_argument("out", help="output directory for the merged model")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    path = export_run(args.run_dir, args.out, overwrite=args.overwrite)
    print(f"merged model written to {path}")
    return 0
