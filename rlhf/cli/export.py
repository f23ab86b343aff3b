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

from pathlib import Path

from rlhf.models import adapters
from rlhf.runtime.rundir import RunDir


def export_run(run_dir: str | Path, out: str | Path, *, overwrite: bool = False) -> tuple[Path, str]:
    """Write the run's policy to `out`; returns (out, how): `merged` (adapter + base) or `copied`."""
    run = RunDir(Path(run_dir))
    target = Path(out)
    if not run.root.is_dir():
        raise FileNotFoundError(f"run directory not found: {run.root}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        what = "holds another model" if (target / "config.json").is_file() else "exists and is not empty"
        raise ValueError(f"OUT {target} {what}; choose another directory or pass --overwrite to replace it")
    final = run.final_model()  # a ValueError saying what the directory holds when there is nothing
    _check_target(run, final.path, target)
    if final.kind == "prm":
        raise ValueError(
            f"{run.root} is a process reward model run: {final.path} is already a self-contained PRM "
            f"(LoRA merged in, with prm_config.json), and a step scorer, not a policy: nothing to "
            f"export; use it as is, e.g. the step reward {{name: prm, params: {{path: {final.path}}}}}"
        )
    if final.kind == "full":
        return adapters.copy_model_dir(final.path, target), "copied"
    base, dtype = run.base_model()  # a moved run finds its base through base_model.json
    if not Path(base).exists() and base.startswith(("/", ".", "~")):
        raise FileNotFoundError(f"base model of {run.root} not found: {base} (its model.path)")
    run.check_base(base)
    return adapters.merge_adapter(base, final.path, target, dtype), "merged"


def _check_target(run: RunDir, source: Path, target: Path) -> None:
    """Refuse an OUT that would replace the run (or its model) while it is being read."""
    t, root, src = target.resolve(), run.root.resolve(), source.resolve()
    if t in (root, src) or t in root.parents or src in t.parents:
        raise ValueError(
            f"OUT {target} would overwrite the run {run.root} it exports; choose another directory"
        )


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
