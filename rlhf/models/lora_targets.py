"""Which linear layers LoRA adapts, for every architecture.

A recipe may name its targets, say `all-linear` (peft's option: every linear layer but the
output head), or name none: then the architecture's default applies. The defaults keep what
the project always trained on Llama-style attention (`q_proj`, `v_proj`, so runs made before
stay bit-identical) and name the fused or latent projections of the architectures that have
no `q_proj`/`v_proj` (Phi-3's `qkv_proj`, DeepSeek's multi-head latent attention). Whatever the
source, the targets are checked against the model before training: a name the model lacks is
refused with the model's own linear module names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn

ALL_LINEAR = "all-linear"
GENERIC_DEFAULT: tuple[str, ...] = ("q_proj", "v_proj")
# model_type -> preferred targets; those the model has are used (DeepSeek without q_lora_rank has q_proj)
ARCH_DEFAULTS: dict[str, tuple[str, ...]] = {
    "phi3": ("qkv_proj", "o_proj"),
    "phimoe": ("q_proj", "v_proj"),
    "deepseek_v2": ("q_a_proj", "q_b_proj", "q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"),
    "deepseek_v3": ("q_a_proj", "q_b_proj", "q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"),
    "gpt_neox": ("query_key_value",),
    "gpt2": ("c_attn",),
    "falcon": ("query_key_value",),
    "bloom": ("query_key_value",),
}


def linear_module_names(model: nn.Module) -> list[str]:
    """Last name components of the model's Linear layers: what LoRA `target_modules` may name."""
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, nn.Linear)}
    return sorted(names)


def check_target_modules(model: nn.Module, targets: Iterable[str]) -> None:
    """Fail before training when a LoRA target is absent, listing the ones the model has."""
    have = linear_module_names(model)
    missing = [t for t in targets if t not in have]
    if missing:
        raise ValueError(
            f"lora.target_modules {', '.join(repr(m) for m in missing)} not in the model "
            f"({type(model).__name__}); its linear modules are: {', '.join(have)}"
        )


def model_type(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "model_type", "") or "")


def default_targets(model: nn.Module) -> list[str]:
    """The architecture's default targets that `model` has; refused when it has none of them."""
    wanted = ARCH_DEFAULTS.get(model_type(model), GENERIC_DEFAULT)
    have = set(linear_module_names(model))
    chosen = [t for t in wanted if t in have]
    if not chosen:
        raise ValueError(
            f"lora.target_modules is not set and the default for {type(model).__name__} "
            f"({', '.join(wanted)}) is not in the model; set lora.target_modules to some of its "
            f"linear modules ({', '.join(sorted(have))}) or to all-linear"
        )
    return chosen


def resolve_targets(model: nn.Module, targets: Sequence[str] | str) -> list[str] | str:
    """`lora.target_modules` as peft takes it: names checked against `model`, `all-linear`, or the default."""
    if isinstance(targets, str):
        if targets != ALL_LINEAR:
            raise ValueError(
                f"lora.target_modules must be a list of module names or {ALL_LINEAR!r}, got {targets!r}"
            )
        return ALL_LINEAR
    if not targets:
        return default_targets(model)
    check_target_modules(model, targets)  # names the model's own linear modules on a miss
    return list(targets)
