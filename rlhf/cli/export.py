"""`cotrl export RUN_DIR OUT`: a finished run's policy as one plain HF directory.

The result (config, safetensors, tokenizer) loads in transformers and vLLM without peft.
What the run left is read through `RunDir.final_model`, the same for every trainer (sft,
distill, grpo, ppo): a LoRA adapter (`adapter/`, or `model/` in GRPO/PPO runs written
before that layout) is folded into the base the run trained on (`model.path` from its
resolved config, or the run's own `tiny_model/`); a full finetune's `model/` is already a
plain HF directory and is copied as is. A PRM run is refused: its `prm/` is already a
self-contained process reward model, and not a policy.
"""

from __future__ import annotations

from rlhf.models.adapters import export_run

__all__ = ["add_parser", "export_run"]  # export_run lives in rlhf.models.adapters (the demos use it too)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="a run's policy as a plain HF dir (LoRA merged into its base; full finetunes copied)"
    )
    p.add_argument("run_dir", help="a run directory written by `cotrl train` (sft, distill, grpo, ppo)")
    p.add_argument("out", help="output directory for the plain HF model")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    path, how = export_run(args.run_dir, args.out, overwrite=args.overwrite)
    if how == "merged":
        print(f"merged model (base + adapter) written to {path}")
    else:
        print(f"{args.run_dir} is a full finetune (already a plain HF dir); copied it to {path}")
    return 0
