"""The policy: load a causal LM and its tokenizer, apply LoRA or train it fully, score tokens.

Why these choices:
- `model.path: tiny` builds the tiny local model *inside the run directory* with a tokenizer
  trained on the run's own prompts and gold solutions, so a CPU run needs no hub and its
  tokens fit its data. `resolve_model_path` is shared by every trainer (sft, prm, grpo, ppo).
- One `apply_lora` for every trainer (causal LM or the PRM's token classifier): targets checked
  against the model's own linear layers, `lora.adapter_path` continued, gradient checkpointing kept.
- Under LoRA the reference policy is the same network with the adapter disabled: no second
  copy of the weights. When the run continues an adapter (`lora.adapter_path`, e.g. GRPO after
  LoRA SFT), the reference is the model that adapter made, not the bare base: a frozen copy of
  the starting adapter is loaded beside the trained one and made active for reference forwards
  only (a few MB, and the first step's KL is 0). Under full finetuning a frozen copy is made,
  but only when a KL coefficient asks for it.
- Logprobs are laid out on the input grid: `logprobs[:, t]` is log p(input_ids[:, t] | tokens < t),
  with column 0 set to 0. Completion masks then index the same columns as the tokens.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlhf.config.recipe import RunConfig
from rlhf.models.chat import prepare_chat
from rlhf.models.lora_targets import (  # noqa: F401  (the check is re-exported: callers import it from here)
    check_target_modules,
    linear_module_names,
    resolve_targets,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_path(cfg: RunConfig, run_root: str | Path, corpus: list[str] | None = None) -> str:
    """`model.path` as something `from_pretrained` loads: a local dir, a hub id, or the run's tiny model.

    For `tiny`, the model is built once into the run's `tiny_model/` (reused on resume) from
    `cfg.tiny`, seeded by `run.seed`, with the tokenizer trained on `corpus` plus a default corpus.
    """
    path = cfg.model.path.strip()
    if not path:
        raise ValueError("model.path must be set: a local model directory, a hub id, or 'tiny'")
    if path != "tiny":
        local = Path(path).expanduser()
        if local.exists() and not (local / "config.json").is_file():
            raise ValueError(
                f"model.path {path!r} is a directory without config.json (not an HF model directory)"
            )
        if not local.exists() and (path.startswith(("/", ".", "~")) or path.count("/") > 1):
            raise FileNotFoundError(f"model.path {path!r}: no such model directory (and not a hub id)")
        if local.is_dir():
            check_model_dir(local, cfg)
        return str(local) if local.exists() else path
    from rlhf.models.tiny import DEFAULT_CORPUS, build_tiny_model
    from rlhf.runtime.rundir import RunDir

    t = cfg.tiny
    out = build_tiny_model(
        RunDir(Path(run_root)).tiny_model_dir,
        list(corpus or []) + list(DEFAULT_CORPUS),
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        num_layers=t.num_layers,
        num_heads=t.num_heads,
        intermediate_size=t.intermediate_size,
        max_position_embeddings=t.max_position_embeddings,
        seed=cfg.run.seed,
    )
    return str(out)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_model_dir(local: Path, cfg: RunConfig) -> None:
    """Refuse, in one line and before any run work, a model directory transformers would fail on
    later and at length: a config of an architecture it does not know, or no tokenizer."""
    import json

    from transformers import CONFIG_MAPPING, __version__

    try:
        config = json.loads((local / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"model.path {str(local)!r}: config.json is not readable JSON ({exc})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    remote = cfg.model.trust_remote_code and isinstance(config, dict) and "auto_map" in config
    if model_type not in CONFIG_MAPPING and not remote:
        raise ValueError(
            f"model.path {str(local)!r}: config.json has model_type {model_type!r}, an architecture "
            f"transformers {__version__} does not know (a model that ships its own code needs "
            "model.trust_remote_code: true)"
        )
    if cfg.model.tokenizer is None and not any((local / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(
            f"model.path {str(local)!r} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer there or set model.tokenizer to a tokenizer directory"
        )


def load_tokenizer(cfg: RunConfig, model_path: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        cfg.model.tokenizer or model_path, trust_remote_code=cfg.model.trust_remote_code
    )
    return prepare_chat(tok)  # the model's own chat template and end-of-turn token (the project's otherwise)


def check_tokenizer(model: nn.Module, tokenizer: Any) -> None:
    """Refuse a tokenizer whose ids the model cannot embed (a silent mismatch trains garbage)."""
    n_embed = model.get_input_embeddings().weight.shape[0]
    n_tok = len(tokenizer)
    if n_tok > n_embed:
        raise ValueError(
            f"model.tokenizer has {n_tok} tokens but the model embeds only {n_embed}: tokenizer and model do not match"
        )
    if tokenizer.eos_token_id is None or tokenizer.eos_token_id >= n_embed:
        raise ValueError(f"tokenizer eos token id {tokenizer.eos_token_id!r} is not a valid model token id")


@dataclass
class Policy:
    model: nn.Module  # peft.PeftModel under LoRA, else the causal LM itself
    tokenizer: Any
    model_path: str
    lora: bool
    ref_model: nn.Module | None = None  # frozen copy (full finetune with KL only)
    ref_adapter: str | None = None  # frozen starting adapter (LoRA continuing lora.adapter_path)

    def reference_context(self) -> contextlib.AbstractContextManager:
        """Inside it, `self.model` computes the reference policy: under LoRA the frozen starting
        adapter when the run continued one, else the adapter disabled (the base)."""
        if not self.lora:
            return contextlib.nullcontext()
        if self.ref_adapter is not None:
            return _active_adapter(self.model, self.ref_adapter)
        return self.model.disable_adapter()


REF_ADAPTER = "reference"  # the name of the frozen starting adapter inside the PeftModel


@contextlib.contextmanager
def _active_adapter(model: nn.Module, name: str):
    """Make adapter `name` the active one for the block, leaving every requires_grad flag as it was
    (peft's set_adapter also flips trainability, which the optimizer must never see)."""
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter(previous)
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])


def add_reference_adapter(model: nn.Module, path: str) -> str:
    """Load the adapter at `path` a second time, frozen, as the reference (see the module docstring)."""
    from peft import PeftConfig
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    from rlhf.runtime.rundir import find_adapter

    src = str(find_adapter(path))
    config = PeftConfig.from_pretrained(src)
    config.lora_dropout, config.inference_mode = 0.0, True  # a reference forward is deterministic
    model.add_adapter(REF_ADAPTER, config)
    result = set_peft_model_state_dict(model, load_peft_weights(src), adapter_name=REF_ADAPTER)
    assert not result.unexpected_keys, result.unexpected_keys  # the same adapter was just loaded as default
    for n, p in model.named_parameters():
        if f".{REF_ADAPTER}." in n:
            p.requires_grad_(False)
    return REF_ADAPTER


def load_policy(cfg: RunConfig, model_path: str, *, need_reference: bool) -> Policy:
    """Load model + tokenizer, check they match, and set up LoRA or full finetuning."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(cfg, model_path)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=DTYPES[cfg.model.dtype], trust_remote_code=cfg.model.trust_remote_code
    )
    check_tokenizer(model, tokenizer)
    enable_gradient_checkpointing(model, cfg)
    ref, ref_adapter = None, None
    if cfg.lora.enabled:
        model = apply_lora(model, cfg)
        if cfg.lora.adapter_path:
            ref_adapter = add_reference_adapter(model, cfg.lora.adapter_path)
    elif need_reference:
        ref = copy.deepcopy(model).eval()
        ref.requires_grad_(False)
    return Policy(
        model=model,
        tokenizer=tokenizer,
        model_path=model_path,
        lora=cfg.lora.enabled,
        ref_model=ref,
        ref_adapter=ref_adapter,
    )


def enable_gradient_checkpointing(model: nn.Module, cfg: RunConfig) -> None:
    """`model.gradient_checkpointing`: recompute activations in the backward (less memory, more compute)."""
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False


def apply_lora(model: nn.Module, cfg: RunConfig, task_type: str = "CAUSAL_LM") -> nn.Module:
    """The `lora:` section on `model`, for every trainer: a new adapter on the checked targets, or
    the trainable adapter at `lora.adapter_path`.

    `task_type` "TOKEN_CLS" is the PRM's classifier: peft keeps its head (`score`) fully trainable
    through modules_to_save. An adapter trained for another task (an SFT run's causal-LM adapter
    under a PRM) keeps its LoRA weights and gets the fresh head trainable.
    """
    from peft import get_peft_model

    if cfg.model.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    if cfg.lora.adapter_path:
        return load_adapter(model, cfg.lora.adapter_path, task_type, dropout=cfg.lora.dropout)
    return get_peft_model(model, lora_config(cfg, model, task_type))


def lora_config(cfg: RunConfig, model: nn.Module, task_type: str = "CAUSAL_LM") -> Any:
    """A peft LoraConfig from the `lora:` section, its targets checked against `model` first."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=resolve_targets(model, cfg.lora.target_modules),
        bias="none",
        task_type=task_type,
    )


def load_adapter(
    model: nn.Module, path: str, task_type: str = "CAUSAL_LM", dropout: float | None = None
) -> nn.Module:
    """The adapter at `path` (an adapter dir, or a LoRA run's dir read through its layout) on `model`,
    trainable; its own r and targets apply, and the run's `lora.dropout` when given (RL continues an
    SFT adapter with dropout off, so sampler, learner and reference agree)."""
    from peft import PeftConfig, PeftModel, get_peft_model
    from peft.utils import get_peft_model_state_dict, load_peft_weights, set_peft_model_state_dict

    from rlhf.runtime.rundir import find_adapter

    src = find_adapter(path)
    config = PeftConfig.from_pretrained(str(src))
    if dropout is not None and hasattr(config, "lora_dropout"):
        config.lora_dropout = dropout
    if config.task_type == task_type:
        return PeftModel.from_pretrained(model, str(src), is_trainable=True, config=config)
    # another task's adapter (a causal-LM one under the PRM's head): its LoRA weights, a fresh head
    config.task_type, config.inference_mode = task_type, False
    wrapped = get_peft_model(model, config)
    state = load_peft_weights(str(src))
    for key, value in get_peft_model_state_dict(wrapped).items():
        state.setdefault(key, value)  # what the adapter never had (the head) keeps its initialisation
    unexpected = set_peft_model_state_dict(wrapped, state).unexpected_keys
    if unexpected:
        raise ValueError(f"lora.adapter_path {path!r} does not fit this model: {sorted(unexpected)[:3]}")
    return wrapped


def token_logprobs(
    model: nn.Module,
    input_ids: Tensor,  # [N, T]
    attention_mask: Tensor,  # [N, T]
    temperature: float = 1.0,
    with_entropy: bool = False,
    entropy_grad: bool = False,
    start: int = 1,
) -> tuple[Tensor, Tensor | None]:
    """Per-token logprobs (and entropies) of `input_ids` under `model` at `temperature`, on the input grid.

    Returns `(logprobs [N, T], entropy [N, T] or None)`; columns before `start` (at least
    column 0, which nothing predicts) are 0 and not computed: pass the first completion
    column as `start` and the LM head never runs over the prompts.
    Entropy carries gradient only with `entropy_grad` (an entropy bonus); otherwise it is a metric.
    Right-padded rows need no position ids: real tokens sit at positions 0..len-1.
    """
    start = max(1, int(start))
    width = input_ids.shape[1]
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False, logits_to_keep=width - start + 1
    )
    logits = out.logits[
        :, -(width - start + 1) : -1
    ].float()  # positions start-1..T-2 predict tokens start..T-1
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, start:]
    lse = torch.logsumexp(logits, dim=-1)  # [N, T-start]
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse
    lp = F.pad(picked, (start, 0))
    ent = None
    if with_entropy:
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            src, src_lse = (logits, lse) if entropy_grad else (logits.detach(), lse.detach())
            probs = torch.softmax(src, dim=-1)
            ent = F.pad(src_lse - (probs * src).sum(-1), (start, 0))
    return lp, ent


def first_response_column(response_mask: Tensor) -> int:
    """The leftmost column holding a completion token in any row (where logprobs must start)."""
    cols = response_mask.sum(0).nonzero()
    return int(cols[0]) if cols.numel() else 1


@torch.no_grad()
def reference_logprobs(
    policy: Policy,
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    temperature: float,
    start: int = 1,
) -> Tensor:
    """Reference-policy logprobs: the frozen copy, or `model` with its adapter disabled."""
    if policy.ref_model is not None:
        return token_logprobs(policy.ref_model, input_ids, attention_mask, temperature, start=start)[0]
    if not policy.lora:
        raise AssertionError("reference requested but neither LoRA nor a frozen copy is set up")
    with policy.reference_context():
        return token_logprobs(model, input_ids, attention_mask, temperature, start=start)[0]


def trainable_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """The parameters an optimizer updates (adapter only under LoRA), detached on CPU."""
    return {n: p.detach().cpu().clone() for n, p in module.named_parameters() if p.requires_grad}


def load_trainable_state_dict(module: nn.Module, state: dict[str, Tensor]) -> None:
    params = dict(module.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    if missing:
        raise ValueError(f"checkpoint lacks trainable parameters {missing[:3]} (recipe changed?)")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def merged_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Plain HF-named weights with any LoRA delta merged, without mutating `model`.

    Rollout engines that hold their own copy of the weights (vLLM) load this in `sync_weights`.
    A sharded (FSDP2) model's weights are gathered first, on every process (each feeds its engine).
    """
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    from rlhf.runtime.sharding import full_state_dict, is_sharded

    if is_sharded(model):
        return merged_from_state(model, full_state_dict(model, rank0_only=False))
    if not isinstance(model, PeftModel):
        return {k: v.detach() for k, v in model.state_dict().items()}
    base = model.get_base_model()
    out = {k: v.detach() for k, v in base.state_dict().items() if "lora_" not in k}
    for mod_name, module in base.named_modules():
        if isinstance(module, LoraLayer) and not getattr(module, "disable_adapters", False):
            weight = module.base_layer.weight.detach()
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    weight = weight + module.get_delta_weight(adapter).detach()
            out[f"{mod_name}.base_layer.weight"] = weight
    return {k.replace(".base_layer.", "."): v for k, v in out.items()}


def checkpoint_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """`merged_state_dict` in the names and layout of a saved checkpoint, what vLLM loads.

    transformers 5 holds some weights in another layout in memory than on disk (a MoE block's
    experts fused into one tensor, saved one expert at a time, Mixtral's `block_sparse_moe` renamed
    `mlp`); vLLM's loaders read the disk layout and refuse the in-memory names.
    """
    from peft import PeftModel
    from transformers.core_model_loading import revert_weight_conversion

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    return revert_weight_conversion(base, merged_state_dict(model))


def merged_from_state(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`merged_state_dict` computed from `state`, the model's full state dict (gathered from shards):
    each LoRA layer's delta is peft's own formula, transpose(B @ A) * scaling, on the full tensors."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import transpose

    if not isinstance(model, PeftModel):
        return state
    prefix = "base_model.model."
    base = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    out = {k: v for k, v in base.items() if "lora_" not in k}
    for mod_name, module in model.get_base_model().named_modules():
        if isinstance(module, LoraLayer) and not getattr(module, "disable_adapters", False):
            weight = out[f"{mod_name}.base_layer.weight"]
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    a, b = (
                        base[f"{mod_name}.lora_A.{adapter}.weight"],
                        base[f"{mod_name}.lora_B.{adapter}.weight"],
                    )
                    weight = weight + transpose(b @ a, module.fan_in_fan_out) * module.scaling[adapter]
            out[f"{mod_name}.base_layer.weight"] = weight
    return {k.replace(".base_layer.", "."): v for k, v in out.items()}


class ValueModel(nn.Module):
    """PPO critic: the policy's architecture without the LM head, plus a scalar head per token.

    A separate network (not a head on the policy) so value and policy gradients never mix
    and LoRA on the policy keeps its reference trick. Under LoRA the critic trains a LoRA
    adapter too, plus its head.
    """

    def __init__(self, backbone: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.head.weight, std=1.0 / (hidden_size + 1))
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:  # -> [N, T]
        """V[:, t] = value of the state *before* token t (read from the hidden state at t-1),
        on the same grid as the logprobs, so GAE pairs each action with the state it was taken in."""
        hidden = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        values = self.head(hidden.float()).squeeze(-1)  # [N, T], value after seeing token t
        return F.pad(values[:, :-1], (1, 0))


def load_value_model(cfg: RunConfig, model_path: str) -> ValueModel:
    from transformers import AutoModel

    backbone = AutoModel.from_pretrained(
        model_path, dtype=DTYPES[cfg.model.dtype], trust_remote_code=cfg.model.trust_remote_code
    )
    if cfg.lora.enabled:
        from peft import LoraConfig, get_peft_model

        backbone = get_peft_model(
            backbone,
            LoraConfig(
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=0.0,
                target_modules=resolve_targets(backbone, cfg.lora.target_modules),
            ),
        )
    return ValueModel(backbone, backbone.config.hidden_size)
