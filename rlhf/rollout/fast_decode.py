"""A lean cached forward for Llama-family decoders (Llama, Qwen2, Mistral), used for sampling.

Why: on small models a transformers forward is mostly Python (mask builders, output
capturing, cache objects), ten-plus milliseconds a token. Here the decoder's own modules
(embeddings, norms, projections, MLP, rotary embedding, LM head) are called directly and
only attention is written out, over a preallocated KV cache, so a decode step costs a few
dozen torch calls. Projections are called as modules, so peft LoRA layers work unchanged.
Rows can be dropped from the cache as they finish (`keep`), so finished samples stop
costing compute. Architectures outside the family return None from `supports` and the
sampler falls back to the plain transformers forward; tests compare both paths' logprobs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FAMILY = ("llama", "qwen2", "mistral")


def causal_lm(model: nn.Module) -> nn.Module:
    """The transformers causal LM under a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def supports(model: nn.Module) -> bool:
    lm = causal_lm(model)
    cfg = getattr(lm, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in FAMILY:
        return False
    if getattr(cfg, "use_sliding_window", False) or (cfg.model_type == "mistral" and cfg.sliding_window):
        return False
    inner = getattr(lm, "model", None)
    return all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb")) and hasattr(lm, "lm_head")


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class KVDecoder:
    """Prefill then step; `forward` returns the logits of each row's last position."""

    def __init__(self, model: nn.Module, rows: int, max_len: int) -> None:
        lm = causal_lm(model)
        cfg = lm.config
        self.inner, self.head = lm.model, lm.lm_head
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        p = self.head.weight
        shape = (rows, self.kv_heads, max_len, self.head_dim)
        self.k = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.inner.layers]
        self.v = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.inner.layers]
        self.key_valid = torch.zeros((rows, max_len), dtype=torch.bool, device=p.device)
        self.length = 0

    def keep(self, rows: Tensor) -> None:
        """Drop every cached row not in `rows` (finished samples)."""
        self.k = [k[rows] for k in self.k]
        self.v = [v[rows] for v in self.v]
        self.key_valid = self.key_valid[rows]

    def forward(self, input_ids: Tensor, valid: Tensor, positions: Tensor) -> Tensor:
        """input_ids, valid (bool), positions: [n, t] -> logits [n, V] at the last position."""
        n, t = input_ids.shape
        s, e = self.length, self.length + t
        h = self.inner.embed_tokens(input_ids)  # [n, t, C]
        cos, sin = self.inner.rotary_emb(h, positions)  # [n, t, D]
        cos, sin = cos[:, None].to(h.dtype), sin[:, None].to(h.dtype)
        self.key_valid[:, s:e] = valid
        causal = torch.ones((t, e), dtype=torch.bool, device=h.device).tril(diagonal=s)  # query i sees keys <= s+i
        mask = self.key_valid[:, None, None, :e] & causal  # [n, 1, t, e]
        # a padding query sees only itself, so no row of the softmax is empty (no NaN in the cache)
        mask[:, :, torch.arange(t), torch.arange(s, e)] = True
        for i, layer in enumerate(self.inner.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = attn.q_proj(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(x).view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(x).view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
            self.k[i][:, :, s:e] = _rope(k, cos, sin)
            self.v[i][:, :, s:e] = v
            o = F.scaled_dot_product_attention(
                _rope(q, cos, sin), self.k[i][:, :, :e], self.v[i][:, :, :e], attn_mask=mask,
                scale=getattr(attn, "scaling", None), enable_gqa=self.kv_heads != self.heads)
            h = h + attn.o_proj(o.transpose(1, 2).reshape(n, t, self.heads * self.head_dim))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        self.length = e
        return self.head(self.inner.norm(h[:, -1]))  # [n, V]
