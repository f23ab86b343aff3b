"""LoRA targets, adapter merging and model outputs of a run.

Model resolution and loading live in `rlhf.models.policy` (shared by every trainer); this
module holds what SFT and `cotrl export` add: checking LoRA targets against the
model before training, and writing adapter / merged / full model directories
atomically so a killed run never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rlhf.models.policy import DTYPES
from rlhf.runtime.rundir import CONFIG_NAME as RUN_CONFIG_NAME

TINY_DIR = "tiny_model"  # where rlhf.models.policy.resolve_model_path builds a run's tiny model
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
FULL_DIR = "model"


def save_dir_atomic(out: str | os.PathLike[str], write: Any) -> Path:
    """Call `write(tmp_dir)` and move the result to `out` (replacing it): no half-written model dirs."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp)
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


def base_model_of(run_dir: Path) -> tuple[str, str]:
    """(base model path, dtype) recorded by a run."""
    import yaml

    cfg_path = run_dir / RUN_CONFIG_NAME
    if not cfg_path.is_file():
        raise ValueError(f"{run_dir} is not a run directory (no {RUN_CONFIG_NAME})")
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    model = cfg.get("model") or {}
    path = str(model.get("path") or "")
    if path == "tiny":
        path = str(run_dir / TINY_DIR)
    if not path:
        raise ValueError(f"{cfg_path}: model.path is empty")
    return path, str(model.get("dtype") or "float32")
