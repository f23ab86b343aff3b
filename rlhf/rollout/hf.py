"""The transformers rollout backend: batched sampling with a KV cache, in our own decode loop.

Why a hand-written loop instead of `model.generate`: on small models the per-token cost of
`generate` is dominated by Python-side machinery (logits processors, stopping criteria,
cache bookkeeping). This loop does one cached forward per token for the batch, drops rows
from the cache as they finish (a finished sample costs nothing more), samples with a seeded
`torch.Generator` (same seed -> same samples, independent of the global RNG, which makes
resumed runs draw the same rollouts), records the logprob of each sampled token as it goes
(no second forward), and stops as soon as every row is done. For Llama-family models the
forward is `rlhf.rollout.fast_decode.KVDecoder` (the model's own modules over a
preallocated KV cache); any other architecture uses the plain transformers forward.

Prompts are left-padded so every row's next token sits in the last column; position ids
come from the attention mask. Logprobs are those of the temperature-scaled distribution
before top-p truncation, the same quantity `rlhf.models.policy.token_logprobs` computes.

This backend shares the policy's parameters, so `sync_weights` has nothing to copy.
Mixture-of-experts models that return router logits for their training aux loss
(`output_router_logits`) are asked not to while decoding: the aux loss is for training,
and under a KV cache transformers' router-loss mask disagrees with the logits' shape.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rlhf.rollout.base import Completion, SamplingParams, SyncReport
from rlhf.rollout.fast_decode import KVDecoder, supports
from rlhf.runtime.sharding import unsharded


class HFSampler:
    def __init__(self, model: nn.Module, tokenizer: Any, batch_size: int = 0, fast: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size  # rows per decode batch (0: all at once)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.fast = fast and supports(model)  # lean decode loop for Llama-family models

    def sync_weights(self, model: nn.Module) -> SyncReport:
        """Generation runs on `model` itself; only the reference is refreshed (a no-op normally)."""
        t0 = time.perf_counter()
        self.model = model
        self.fast = self.fast and supports(model)
        return SyncReport(seconds=time.perf_counter() - t0, num_tensors=0, extra={"shared_weights": True})

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Completion]]:
        per_chunk = (
            max(1, self.batch_size // params.n) if self.batch_size else len(prompts)
        )  # prompts per chunk
        flat: list[Completion] = []
        was_training = self.model.training
        self.model.eval()
        try:
            with unsharded(self.model):  # sharded (FSDP2): full weights once, no collective per step
                for chunk_index, start in enumerate(range(0, len(prompts), per_chunk)):
                    gen = None
                    if params.seed is not None:
                        gen = torch.Generator(device=_device(self.model))
                        gen.manual_seed((params.seed * 1_000_003 + chunk_index) % (1 << 63))
                    chunk = [list(p) for p in prompts[start : start + per_chunk]]
                    flat.extend(self._generate_chunk(chunk, params, gen))
        finally:
            self.model.train(was_training)
        return [flat[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    @torch.no_grad()
    def _generate_chunk(
        self, prompts: list[list[int]], params: SamplingParams, gen: torch.Generator | None
    ) -> list[Completion]:
        """Prefill each prompt once, then copy its cache to its `n` samples and decode them together."""
        device = _device(self.model)
        n, steps = len(prompts) * params.n, params.max_new_tokens
        width = max(len(r) for r in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, r in enumerate(prompts):  # left padding
            input_ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            attn[i, width - len(r) :] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)
        positions = (attn.cumsum(-1) - 1).clamp(min=0)
        step_fn = (
            self._fast_steps(input_ids, attn, positions, steps, params.n)
            if self.fast
            else self._hf_steps(input_ids, attn, positions, params.n)
        )
        logits = next(step_fn)  # prefill, [n, V] after the copy to every sample
        eos = torch.tensor(sorted(self.eos_ids), device=device)
        tail = max((len(x) for x in params.stop), default=0) + 1
        tokens = torch.full((n, steps), self.pad_id, dtype=torch.long, device=device)
        logps = torch.zeros((n, steps), device=device)
        lengths, finish = [steps] * n, ["length"] * n
        active = torch.arange(n, device=device)  # original row of each row still decoding
        for step in range(steps):
            tok, lp = _sample(logits, params, gen)  # [a], [a]
            tokens[active, step] = tok
            logps[active, step] = lp
            done = torch.isin(tok, eos)
            if params.stop:
                done |= self._hit_stop(tokens[active, max(0, step + 1 - tail) : step + 1], params.stop)
            for i in active[done].tolist():
                lengths[i], finish[i] = step + 1, "stop"
            if bool(done.all()) or step == steps - 1:
                break
            keep = (~done).nonzero().flatten()
            active = active[keep]
            logits = step_fn.send((tok[keep], keep if bool(done.any()) else None))
        step_fn.close()
        toks, lps = tokens.cpu(), logps.float().cpu()
        return [self._completion(toks[i, : lengths[i]], lps[i, : lengths[i]], finish[i]) for i in range(n)]

    def _fast_steps(self, input_ids: Tensor, attn: Tensor, positions: Tensor, steps: int, repeats: int):
        """Generator protocol: yields logits; receives (next tokens, rows to keep or None)."""
        dec = KVDecoder(self.model, input_ids.shape[0], input_ids.shape[1] + steps)
        logits = dec.forward(input_ids, attn.bool(), positions)
        copies = torch.arange(input_ids.shape[0], device=input_ids.device).repeat_interleave(repeats)
        dec.keep(copies)
        pos = positions[copies, -1:]
        received = yield logits[copies]
        while True:
            tok, keep = received
            if keep is not None:
                dec.keep(keep)
                pos = pos[keep]
            pos = pos + 1
            received = yield dec.forward(tok[:, None], torch.ones_like(tok[:, None], dtype=torch.bool), pos)

    def _hf_steps(self, input_ids: Tensor, attn: Tensor, positions: Tensor, repeats: int):
        """The same protocol over a plain transformers forward with its DynamicCache (any architecture)."""
        extra = _decode_kwargs(self.model)
        out = self.model(
            input_ids=input_ids, attention_mask=attn, position_ids=positions, use_cache=True, **extra
        )
        cache = out.past_key_values
        cache.batch_repeat_interleave(repeats)
        attn, pos = attn.repeat_interleave(repeats, 0), positions[:, -1:].repeat_interleave(repeats, 0)
        received = yield out.logits[:, -1].repeat_interleave(repeats, 0)
        while True:
            tok, keep = received
            if keep is not None:
                cache.batch_select_indices(keep)
                attn, pos = attn[keep], pos[keep]
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=1)
            pos = pos + 1
            out = self.model(
                input_ids=tok[:, None],
                attention_mask=attn,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
                **extra,
            )
            cache = out.past_key_values
            received = yield out.logits[:, -1]

    def _hit_stop(self, recent: Tensor, stops: tuple[str, ...]) -> Tensor:
        """Rows whose newest token completes a stop string (checked on a short decoded tail)."""
        rows = recent.tolist()
        texts = self.tokenizer.batch_decode(rows)
        lasts = self.tokenizer.batch_decode([r[-1:] for r in rows])
        hit = [
            any(x in text and text.rfind(x) + len(x) > len(text) - len(last) for x in stops)
            for text, last in zip(texts, lasts)
        ]
        return torch.tensor(hit, dtype=torch.bool, device=recent.device)

    def _completion(self, toks: Tensor, lps: Tensor, finish: str) -> Completion:
        ids = toks.tolist()
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Completion(token_ids=tuple(ids), logprobs=tuple(lps.tolist()), text=text, finish_reason=finish)


def _sample(logits: Tensor, params: SamplingParams, gen: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Sample one token per row; return it and its logprob under the temperature-scaled softmax."""
    logits = logits.float()
    if params.temperature == 0:
        logp = torch.log_softmax(logits, -1)
        tok = logits.argmax(-1)
        return tok, logp.gather(-1, tok[:, None]).squeeze(-1)
    logp = torch.log_softmax(logits / params.temperature, -1)
    probs = logp.exp()
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        cut = (sorted_p.cumsum(-1) - sorted_p) >= params.top_p  # keep the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(cut, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    # exponential race (argmax p / E, E ~ Exp(1)) samples from p; cheaper than multinomial
    noise = torch.empty_like(probs).exponential_(1.0, generator=gen)
    tok = (probs / noise).argmax(-1)
    return tok, logp.gather(-1, tok[:, None]).squeeze(-1)


def _eos_ids(model: nn.Module, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    gen_cfg = getattr(model, "generation_config", None)
    extra = getattr(gen_cfg, "eos_token_id", None)
    if isinstance(extra, int):
        ids.add(extra)
    elif isinstance(extra, (list, tuple)):
        ids.update(int(x) for x in extra)
    return ids


def _decode_kwargs(model: nn.Module) -> dict[str, Any]:
    """Forward kwargs for decoding: MoE router logits (training's aux loss) switched off."""
    if getattr(getattr(model, "config", None), "output_router_logits", False):
        return {"output_router_logits": False}
    return {}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def make_sampler(model: nn.Module, tokenizer: Any, cfg: Any) -> HFSampler:
    """Registry factory (`rlhf.rollout.SAMPLERS['transformers']`)."""
    return HFSampler(model, tokenizer, batch_size=cfg.rollout.batch_size)
