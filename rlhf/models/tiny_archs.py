"""Tiny random-init models of the architectures people bring, built from transformers' own config classes.

No hub is reachable, so every architecture the project claims to train is built here at a toy
size (hidden 64, one attention head of head_dim 64 — vLLM's CPU attention wants 64 — two
layers) with the project's tokenizer, and saved as an ordinary HF directory. The configs keep
each architecture's distinguishing parts: Phi-3's fused `qkv_proj`/`gate_up_proj`, OLMo 2's
q/k norms, Gemma 3's sliding/full layer pattern and soft-capping, the MoE routers of Qwen3-MoE
and Mixtral, DeepSeek-V3's multi-head latent attention (`q_a_proj`, `kv_a_proj_with_mqa`) with
a dense first layer and routed plus shared experts. Embeddings are tied in some and untied in
others, and rotary scaling / sliding windows are set where the architecture has them, so one
matrix of tests covers those variants too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from rlhf.models.tiny import DEFAULT_CORPUS, train_tokenizer

HIDDEN = 64
HEADS = 1
HEAD_DIM = 64
LAYERS = 2
FFN = 128
MAX_POS = 512


def _common(vocab: int, tok: Any, tie: bool) -> dict[str, Any]:
    return dict(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=MAX_POS,
        tie_word_embeddings=tie,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.eos_token_id,
    )


def _llama(vocab: int, tok: Any) -> Any:
    from transformers import LlamaConfig

    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 128,
    }
    return LlamaConfig(**_common(vocab, tok, tie=False), head_dim=HEAD_DIM, rope_parameters=rope)


def _mistral(vocab: int, tok: Any) -> Any:
    from transformers import MistralConfig

    return MistralConfig(**_common(vocab, tok, tie=False), head_dim=HEAD_DIM, sliding_window=32)


def _qwen2(vocab: int, tok: Any) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(**_common(vocab, tok, tie=True), head_dim=HEAD_DIM)


def _qwen3(vocab: int, tok: Any) -> Any:
    from transformers import Qwen3Config

    rope = {
        "rope_type": "yarn",
        "rope_theta": 1000000.0,
        "factor": 4.0,
        "original_max_position_embeddings": 128,
    }
    return Qwen3Config(**_common(vocab, tok, tie=True), head_dim=HEAD_DIM, rope_parameters=rope)


def _gemma3(vocab: int, tok: Any) -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        **_common(vocab, tok, tie=True),
        head_dim=HEAD_DIM,
        query_pre_attn_scalar=HEAD_DIM,
        sliding_window=32,
        layer_types=["sliding_attention", "full_attention"],
        final_logit_softcapping=30.0,
    )


def _phi3(vocab: int, tok: Any) -> Any:
    from transformers import Phi3Config

    return Phi3Config(**_common(vocab, tok, tie=False), original_max_position_embeddings=MAX_POS)


def _olmo2(vocab: int, tok: Any) -> Any:
    from transformers import Olmo2Config

    return Olmo2Config(**_common(vocab, tok, tie=False))


def _qwen3_moe(vocab: int, tok: Any) -> Any:
    from transformers import Qwen3MoeConfig

    return Qwen3MoeConfig(
        **_common(vocab, tok, tie=False),
        head_dim=HEAD_DIM,
        moe_intermediate_size=32,
        num_experts=4,
        num_experts_per_tok=2,
        decoder_sparse_step=1,
        norm_topk_prob=True,
    )


def _mixtral(vocab: int, tok: Any) -> Any:
    from transformers import MixtralConfig

    return MixtralConfig(
        **_common(vocab, tok, tie=False), head_dim=HEAD_DIM, num_local_experts=4, num_experts_per_tok=2
    )


def _deepseek_v3(vocab: int, tok: Any) -> Any:
    from transformers import DeepseekV3Config

    return DeepseekV3Config(
        **_common(vocab, tok, tie=False),
        moe_intermediate_size=32,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        n_group=1,
        topk_group=1,
        first_k_dense_replace=1,  # layer 0 dense, layer 1 mixture of experts
        q_lora_rank=32,
        kv_lora_rank=32,
        qk_rope_head_dim=32,
        qk_nope_head_dim=32,
        v_head_dim=HEAD_DIM,
        head_dim=32,  # the rotary part of a head (transformers' rotary embedding reads it)
    )


CONFIGS: dict[str, Callable[[int, Any], Any]] = {
    "llama": _llama,
    "mistral": _mistral,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "gemma3": _gemma3,
    "phi3": _phi3,
    "olmo2": _olmo2,
    "qwen3_moe": _qwen3_moe,
    "mixtral": _mixtral,
    "deepseek_v3": _deepseek_v3,
}
ARCHS: tuple[str, ...] = tuple(CONFIGS)


def tiny_config(arch: str, tokenizer: Any) -> Any:
    """The tiny config of `arch` sized to `tokenizer` (its vocabulary, eos and pad ids)."""
    if arch not in CONFIGS:
        raise ValueError(f"unknown tiny architecture {arch!r}; valid: {', '.join(ARCHS)}")
    return CONFIGS[arch](len(tokenizer), tokenizer)


def build_tiny_arch(
    arch: str,
    out_dir: str | os.PathLike[str],
    *,
    tokenizer: Any = None,
    corpus: Iterable[str] = DEFAULT_CORPUS,
    vocab_size: int = 320,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Save a random-init `arch` model (weights in `dtype`) and its tokenizer to `out_dir`.

    `tokenizer` defaults to the project's (trained on `corpus`); `overrides` set config fields
    (e.g. `tie_word_embeddings`) after the architecture's own choices.
    """
    from transformers import AutoModelForCausalLM

    from rlhf.models.adapters import save_dir_atomic

    tok = tokenizer if tokenizer is not None else train_tokenizer(corpus, vocab_size=vocab_size)
    config = tiny_config(arch, tok)
    for key, value in (overrides or {}).items():
        setattr(config, key, value)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.to(dtype)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)

    return save_dir_atomic(out_dir, write)
