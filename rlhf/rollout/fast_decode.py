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
    return all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb")) and hasattr(
        lm, "lm_head"
    )


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _plain_linear(*mods: nn.Module) -> bool:
    return all(type(m) is nn.Linear for m in mods)  # noqa: E721 - subclasses (peft LoRA) need their own forward


def _fuse(*mods: nn.Linear) -> tuple[Tensor, Tensor | None]:
    weight = torch.cat([m.weight for m in mods], 0)
    biases = [m.bias if m.bias is not None else torch.zeros_like(m.weight[:, 0]) for m in mods]
    has_bias = any(m.bias is not None for m in mods)
    return weight, (torch.cat(biases, 0) if has_bias else None)


class _Layer:
    """One decoder layer's callables: fused projections for plain Linear weights, module calls otherwise."""

    def __init__(self, layer: nn.Module) -> None:
        attn, mlp = layer.self_attn, layer.mlp
        self.o_proj, self.scaling = attn.o_proj, getattr(attn, "scaling", None)
        self.norm1, self.norm2 = _norm(layer.input_layernorm), _norm(layer.post_attention_layernorm)
        self.qkv = (
            _fuse(attn.q_proj, attn.k_proj, attn.v_proj)
            if _plain_linear(attn.q_proj, attn.k_proj, attn.v_proj)
            else None
        )
        self.q_proj, self.k_proj, self.v_proj = attn.q_proj, attn.k_proj, attn.v_proj
        self.gate_up = (
            _fuse(mlp.gate_proj, mlp.up_proj) if _plain_linear(mlp.gate_proj, mlp.up_proj) else None
        )
        self.mlp = mlp

    def project_qkv(self, x: Tensor, sizes: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
        if self.qkv is None:
            return self.q_proj(x), self.k_proj(x), self.v_proj(x)
        return F.linear(x, *self.qkv).split(sizes, dim=-1)

    def feed_forward(self, x: Tensor) -> Tensor:
        if self.gate_up is None:
            return self.mlp(x)
        gate, up = F.linear(x, *self.gate_up).chunk(2, dim=-1)
        return self.mlp.down_proj(self.mlp.act_fn(gate) * up)


def _norm(module: nn.Module):
    """RMSNorm as one fused op when the module is the standard one (weight * x / rms(x))."""
    eps = getattr(module, "variance_epsilon", None)
    weight = getattr(module, "weight", None)
    if (
        eps is None
        or weight is None
        or type(module).__name__ not in ("Qwen2RMSNorm", "LlamaRMSNorm", "MistralRMSNorm")
    ):
        return module
    return lambda x: F.rms_norm(x.float(), (x.shape[-1],), weight.float(), eps).to(x.dtype)


class KVDecoder:
    """Prefill then step; `forward` returns the logits of each row's last position."""

    def __init__(self, model: nn.Module, rows: int, max_len: int) -> None:
        lm = causal_lm(model)
        cfg = lm.config
        self.inner, self.head = lm.model, lm.lm_head
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.sizes = (
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
            self.kv_heads * self.head_dim,
        )
        self.layers = [_Layer(layer) for layer in self.inner.layers]
        self.final_norm = _norm(self.inner.norm)
        p = self.head.weight
        shape = (rows, self.kv_heads, max_len, self.head_dim)
        self.k = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.layers]
        self.v = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.layers]
        self.key_valid = torch.zeros((rows, max_len), dtype=torch.bool, device=p.device)
        self.length = 0
        self._rope_table: tuple[Tensor, Tensor] | None = None

    def keep(self, rows: Tensor) -> None:
        """The cache becomes rows `rows` of itself: drops finished samples, or copies a prompt to its samples."""
        self.k = [k[rows] for k in self.k]
        self.v = [v[rows] for v in self.v]
        self.key_valid = self.key_valid[rows]

    def _rope(self, h: Tensor, positions: Tensor) -> tuple[Tensor, Tensor]:
        """cos/sin [n, 1, t, D], looked up in a table the model's rotary module computed once."""
        if self._rope_table is None:
            span = torch.arange(self.k[0].shape[2] + int(positions.max()) + 1, device=h.device)[None]
            cos, sin = self.inner.rotary_emb(h, span)  # [1, P, D]
            self._rope_table = (cos[0].to(h.dtype), sin[0].to(h.dtype))
        cos, sin = self._rope_table
        return cos[positions][:, None], sin[positions][:, None]

    def forward(self, input_ids: Tensor, valid: Tensor, positions: Tensor) -> Tensor:
        """input_ids, valid (bool), positions: [n, t] -> logits [n, V] at the last position."""
        n, t = input_ids.shape
        s, e = self.length, self.length + t
        h = self.inner.embed_tokens(input_ids)  # [n, t, C]
        cos, sin = self._rope(h, positions)
        self.key_valid[:, s:e] = valid
        mask = self.key_valid[:, None, None, :e]  # [n, 1, 1, e]: a new token sees every valid key
        if t > 1:
            causal = torch.ones((t, e), dtype=torch.bool, device=h.device).tril(
                diagonal=s
            )  # query i: keys <= s+i
            mask = mask & causal  # [n, 1, t, e]
            # a padding query sees only itself, so no row of the softmax is empty (no NaN in the cache)
            mask[:, :, torch.arange(t), torch.arange(s, e)] = True
        for i, layer in enumerate(self.layers):
            q, k, v = layer.project_qkv(layer.norm1(h), self.sizes)
            q = q.view(n, t, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
            self.k[i][:, :, s:e] = _rope(k, cos, sin)
            self.v[i][:, :, s:e] = v.view(n, t, self.kv_heads, self.head_dim).transpose(1, 2)
            o = F.scaled_dot_product_attention(
                _rope(q, cos, sin),
                self.k[i][:, :, :e],
                self.v[i][:, :, :e],
                attn_mask=mask,
                scale=layer.scaling,
                enable_gqa=self.kv_heads != self.heads,
            )
            h = h + layer.o_proj(o.transpose(1, 2).reshape(n, t, self.heads * self.head_dim))
            h = h + layer.feed_forward(layer.norm2(h))
        self.length = e
        return self.head(self.final_norm(h[:, -1]))  # [n, V]
