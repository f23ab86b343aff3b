"""`cotrl train RECIPE.yaml [key.sub=value ...] [--resume | --overwrite]`."""

from __future__ import annotations

import json
from pathlib import Path

from rlhf.runtime.distributed import is_main_process, prepare_run_dir_once
from rlhf.runtime.progress import quiet_libraries
from rlhf.trainers import TRAINERS
from rlhf.trainers.checks import load_recipe


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="run a training recipe (sft, grpo, ppo, prm, distill)")
    p.add_argument("recipe", help="path to a recipe YAML")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-5 lora.r=8")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in run.output_dir from its last checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a run already in run.output_dir")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load_recipe(args.recipe, args.overrides)
    quiet_libraries()  # the run's own progress display is the only one
    trainer = TRAINERS.get(cfg.trainer)
    root = Path(cfg.run.output_dir)
    fresh = not root.exists() or (root.is_dir() and not any(root.iterdir()))
    run_dir = prepare_run_dir_once(cfg, cfg.run.output_dir, resume=args.resume, overwrite=args.overwrite)
    try:
        result = trainer(cfg, run_dir)
    except Exception:
        if (fresh or args.overwrite) and is_main_process() and not _has_progress(run_dir.root):
            import shutil

            shutil.rmtree(run_dir.root, ignore_errors=True)  # a run that never started leaves nothing behind
        raise
    print(json.dumps({"output_dir": str(run_dir.root), **(result or {})}, default=str))
    return 0


def _has_progress(root: Path) -> bool:
    """Whether a failed run wrote anything worth keeping (metrics or a checkpoint)."""
    return (root / "metrics.jsonl").is_file() or any((root / "checkpoints").glob("*"))
