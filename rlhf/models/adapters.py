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
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
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
    extra = {} if state_dict is None else {"state_dict": state_dict}

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True, **extra)
        tokenizer.save_pretrained(tmp)

    return save_dir_atomic(run_dir.final_dir(lora), write)


def copy_model_dir(src: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Copy a plain HF model directory to `out` atomically (what `cotrl export` does for a full finetune)."""
    return save_dir_atomic(out, lambda tmp: shutil.copytree(src, tmp, dirs_exist_ok=True))
