"""`cotrl train RECIPE.yaml [key.sub=value ...] [--resume | --overwrite]`."""

from __future__ import annotations

import json
from pathlib import Path

from rlhf import config
from rlhf.recipe import RunConfig
from rlhf.distributed import prepare_run_dir_once
from rlhf.trainers import TRAINERS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="run a training recipe (sft, grpo, ppo, prm, distill)")
    p.add_argument("recipe", help="path to a recipe YAML")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-5 lora.r=8")
    p.add_argument("--resume", action="store_true", help="continue the run in run.output_dir from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in run.output_dir")
    p.set_defaults(func=run)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    cfg = config.load(RunConfig, path, overrides)
    TRAINERS.get(cfg.trainer)  # unknown trainer fails here, listing the valid ones
    return cfg


def run(args) -> int:
    cfg = load_recipe(args.recipe, args.overrides)
    trainer = TRAINERS.get(cfg.trainer)
    run_dir = prepare_run_dir_once(cfg, cfg.run.output_dir, resume=args.resume, overwrite=args.overwrite)
    result = trainer(cfg, run_dir)
    print(json.dumps({"output_dir": str(run_dir.root), **(result or {})}, default=str))
    return 0
