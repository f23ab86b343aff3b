"""Adapter merging and the model outputs of a run.

Model resolution and loading live in `rlhf.models.policy` (shared by every trainer); this
module writes the final model directories every trainer leaves (`save_final`: `adapter/`
under LoRA, `model/` otherwise, where `rlhf.runtime.rundir` says) and what `cotrl export`
adds (merging an adapter into its base), atomically so a killed run never leaves a
half-written model behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from data_gen.writers import honour_umask, make_temp_dir
from rlhf.models.policy import DTYPES
from rlhf.runtime.rundir import ADAPTER_DIR, FULL_DIR, MERGED_DIR, TINY_DIR, RunDir

__all__ = [
    "ADAPTER_DIR",
    "FULL_DIR",
    "MERGED_DIR",
    "TINY_DIR",
    "copy_model_dir",
    "export_run",
    "merge_adapter",
    "save_dir_atomic",
    "save_final",
]


def save_dir_atomic(out: str | os.PathLike[str], write: Any) -> Path:
    """Call `write(tmp_dir)` and move the result to `out` (replacing it): no half-written model dirs."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target)
    try:
        write(tmp)
        honour_umask(tmp)  # libraries write through mkstemp too (model.safetensors was 0600)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def merge_adapter(
    base_path: str, adapter_dir: str | os.PathLike[str], out: str | os.PathLike[str], dtype: str = "float32"
) -> Path:
    """Load the base fresh, fold the adapter in, save a plain HF dir (config, weights, tokenizer)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(adapter_dir)
    if not (adapter / "adapter_config.json").is_file():
        raise ValueError(f"{adapter} holds no LoRA adapter (no adapter_config.json)")
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=DTYPES[dtype])
    try:
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    except (RuntimeError, ValueError, KeyError) as exc:  # shapes or module names of another model
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        first = next((line for line in lines if "size mismatch" in line), lines[0])
        raise ValueError(
            f"adapter {adapter} does not fit the base model {base_path}: {first[:300]}"
        ) from None
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else base_path
    tokenizer = AutoTokenizer.from_pretrained(str(tok_src))

    def write(tmp: Path) -> None:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return save_dir_atomic(out, write)


def save_final(
    run_dir: RunDir, model: Any, tokenizer: Any, *, lora: bool, state_dict: dict[str, Any] | None = None
) -> Path:
    """Write a run's final policy where the layout puts it: the adapter (LoRA) or the full model.

    One writer for every policy trainer (sft, distill through sft, grpo, ppo), so readers
    never have to guess which trainer wrote a run. `model` is a peft model under LoRA
    (only the adapter is saved) and a plain causal LM otherwise. A sharded (FSDP) model comes with
    its gathered full `state_dict` (`rlhf.runtime.sharding.full_state_dict`), so the directory is the
    same plain one an unsharded run writes.
    """
    extra: dict[str, Any] = {} if state_dict is None else {"state_dict": state_dict}
    if lora and len(getattr(model, "peft_config", {})) > 1:  # only the trained adapter, not the reference
        extra["selected_adapters"] = [model.active_adapter]

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True, **extra)
        tokenizer.save_pretrained(tmp)

    return save_dir_atomic(run_dir.final_dir(lora), write)


def copy_model_dir(src: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Copy a plain HF model directory to `out` atomically (what `cotrl export` does for a full finetune)."""
    return save_dir_atomic(out, lambda tmp: shutil.copytree(src, tmp, dirs_exist_ok=True))


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
        return copy_model_dir(final.path, target), "copied"
    base, dtype = run.base_model()  # a moved run finds its base through base_model.json
    if not Path(base).exists() and base.startswith(("/", ".", "~")):
        raise FileNotFoundError(f"base model of {run.root} not found: {base} (its model.path)")
    run.check_base(base)
    return merge_adapter(base, final.path, target, dtype), "merged"


def _check_target(run: RunDir, source: Path, target: Path) -> None:
    """Refuse an OUT that would replace the run (or its model) while it is being read."""
    t, root, src = target.resolve(), run.root.resolve(), source.resolve()
    if t in (root, src) or t in root.parents or src in t.parents:
        raise ValueError(
            f"OUT {target} would overwrite the run {run.root} it exports; choose another directory"
        )
