"""Resolve and load the model a recipe names; apply or merge a LoRA adapter.

`model.path` is a local HF directory, a hub id, or "tiny": then a tiny Qwen2-style
model is built in the run directory with a tokenizer trained on the recipe's own
data (digits stay single tokens), so a run needs no hub.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from rlhf.recipe import RunConfig

TINY_DIR = "base_model"  # where a run keeps the tiny model it built (export and GRPO reuse it)
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
FULL_DIR = "model"


def resolve_model(cfg: RunConfig, run_dir: Any, corpus: Iterable[str] | None = None) -> str:
    """The model path to load: a local dir, a hub id, or the tiny model built for this run."""
    path = cfg.model.path
    if not path:
        raise ValueError("model.path is empty: give a local HF directory, a hub id, or 'tiny'")
    if path == "tiny":
        from rlhf.tiny import DEFAULT_CORPUS, build_tiny_model

        t = cfg.tiny
        texts = list(corpus) if corpus is not None else list(DEFAULT_CORPUS)
        out = build_tiny_model(
            Path(run_dir.root) / TINY_DIR,
            texts or DEFAULT_CORPUS,
            vocab_size=t.vocab_size,
            hidden_size=t.hidden_size,
            num_layers=t.num_layers,
            num_heads=t.num_heads,
            intermediate_size=t.intermediate_size,
            max_position_embeddings=t.max_position_embeddings,
            seed=cfg.run.seed,
        )
        return str(out)
    p = Path(path).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise ValueError(f"model.path {path!r} is not an HF model directory (no config.json)")
        return str(p)
    if path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise ValueError(f"model.path {path!r} does not exist (and is not a hub id like 'org/name')")
    return path  # hub id; transformers reports a missing or unreachable one


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Last name components of the model's Linear layers: what LoRA `target_modules` may name."""
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    return sorted(names)


def check_target_modules(model: torch.nn.Module, targets: Iterable[str]) -> None:
    """Fail before training when a LoRA target is absent, listing the ones the model has."""
    have = linear_module_names(model)
    missing = [t for t in targets if t not in have]
    if missing:
        raise ValueError(
            f"lora.target_modules {', '.join(repr(m) for m in missing)} not in the model "
            f"({type(model).__name__}); its linear modules are: {', '.join(have)}"
        )


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


def merge_adapter(base_path: str, adapter_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                  dtype: str = "float32") -> Path:
    """Load the base fresh, fold the adapter in, save a plain HF dir (config, weights, tokenizer)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(adapter_dir)
    if not (adapter / "adapter_config.json").is_file():
        raise ValueError(f"{adapter} holds no LoRA adapter (no adapter_config.json)")
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch_dtype(dtype))
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else base_path
    tokenizer = AutoTokenizer.from_pretrained(str(tok_src))

    def write(tmp: Path) -> None:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return save_dir_atomic(out, write)
