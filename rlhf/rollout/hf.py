"""The transformers rollout backend: batched sampling with a KV cache, in our own decode loop.

Why a hand-written loop instead of `model.generate`: on small models the per-token cost of
`generate` is dominated by Python-side machinery (logits processors, stopping criteria,
cache bookkeeping). This loop does one cached forward per token for the whole batch,
samples with a seeded `torch.Generator` (same seed -> same samples, independent of the
global RNG, which makes resumed runs draw the same rollouts), records the logprob of each
sampled token as it goes (no second forward), and stops as soon as every row is done.

Prompts are left-padded so every row's next token sits in the last column; position ids
come from the attention mask. Logprobs are those of the temperature-scaled distribution
before top-p truncation, the same quantity `rlhf.policy.token_logprobs` computes.

This backend shares the policy's parameters, so `sync_weights` has nothing to copy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rlhf.rollout.base import Completion, SamplingParams, SyncReport


class HFSampler:
    def __init__(self, model: nn.Module, tokenizer: Any, batch_size: int = 0) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size  # rows per decode batch (0: all at once)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def sync_weights(self, model: nn.Module) -> SyncReport:
        """Generation runs on `model` itself; only the reference is refreshed (a no-op normally)."""
        t0 = time.perf_counter()
        self.model = model
        return SyncReport(seconds=time.perf_counter() - t0, num_tensors=0, extra={"shared_weights": True})

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Completion]]:
        rows = [list(p) for p in prompts for _ in range(params.n)]
        size = self.batch_size or len(rows)
        flat: list[Completion] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for chunk_index, start in enumerate(range(0, len(rows), size)):
                gen = None
                if params.seed is not None:
                    gen = torch.Generator(device=_device(self.model))
                    gen.manual_seed((params.seed * 1_000_003 + chunk_index) % (1 << 63))
                flat.extend(self._generate_chunk(rows[start : start + size], params, gen))
        finally:
            self.model.train(was_training)
        return [flat[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    @torch.no_grad()
    def _generate_chunk(self, rows: list[list[int]], params: SamplingParams,
                        gen: torch.Generator | None) -> list[Completion]:
        device = _device(self.model)
        n = len(rows)
        width = max(len(r) for r in rows)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding
            input_ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            attn[i, width - len(r) :] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)
        positions = (attn.cumsum(-1) - 1).clamp(min=0)
        eos = torch.tensor(sorted(self.eos_ids), device=device)
        stop_tail = max((len(s) for s in params.stop), default=0) + 1

        out = self.model(input_ids=input_ids, attention_mask=attn, position_ids=positions, use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1]
        next_pos = positions[:, -1:] + 1
        tokens: list[Tensor] = []
        logps: list[Tensor] = []
        done = torch.zeros(n, dtype=torch.bool, device=device)
        finish = ["length"] * n
        lengths = [params.max_new_tokens] * n
        for step in range(params.max_new_tokens):
            tok, lp = _sample(logits, params, gen)  # [n], [n]
            tok = torch.where(done, torch.full_like(tok, self.pad_id), tok)
            tokens.append(tok)
            logps.append(lp)
            newly = ~done & torch.isin(tok, eos)
            if params.stop:
                newly |= self._hit_stop(tokens, done | newly, params.stop, stop_tail)
            for i in newly.nonzero().flatten().tolist():
                finish[i], lengths[i] = "stop", step + 1
            done |= newly
            if bool(done.all()) or step == params.max_new_tokens - 1:
                break
            attn = torch.cat([attn, torch.ones((n, 1), dtype=attn.dtype, device=device)], dim=1)
            out = self.model(input_ids=tok[:, None], attention_mask=attn, position_ids=next_pos,
                             past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1]
            next_pos = next_pos + 1
        all_tok = torch.stack(tokens, 1).cpu()  # [n, L]
        all_lp = torch.stack(logps, 1).float().cpu()
        return [self._completion(all_tok[i, : lengths[i]], all_lp[i, : lengths[i]], finish[i]) for i in range(n)]

    def _hit_stop(self, tokens: list[Tensor], skip: Tensor, stops: tuple[str, ...], tail: int) -> Tensor:
        """Rows whose newest tokens complete a stop string (checked on a short decoded tail)."""
        hit = torch.zeros_like(skip)
        active = (~skip).nonzero().flatten().tolist()
        if not active:
            return hit
        recent = torch.stack(tokens[-tail:], 1)[active].tolist()
        last = self.tokenizer.batch_decode([r[-1:] for r in recent])
        texts = self.tokenizer.batch_decode(recent)
        for row, text, end in zip(active, texts, last):
            if any(s in text and (text.rfind(s) + len(s) > len(text) - len(end)) for s in stops):
                hit[row] = True
        return hit

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
    tok = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
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


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def make_sampler(model: nn.Module, tokenizer: Any, cfg: Any) -> HFSampler:
    """Registry factory (`rlhf.rollout.SAMPLERS['transformers']`)."""
    return HFSampler(model, tokenizer, batch_size=cfg.rollout.batch_size)
