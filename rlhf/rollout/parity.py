"""The parity probe: is the rollout engine really sampling from the trainer's current weights?

Weight sync fails silently far more often than loudly (a LoRA adapter that never reaches the
engine, a prefix cache still holding KV from old weights, a kernel that keeps a pre-packed
copy of a tied embedding). Each failure leaves the engine generating from stale weights, and
the importance ratios the trainer computes are then quietly wrong. So after a sync we score a
fixed probe batch twice, with the trainer's model and with the engine, and stop the run when
the per-token logprobs disagree by more than a tolerance.

Pure torch: the engine side hands in its numbers; nothing here imports vllm.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rlhf.models.policy import token_logprobs

# Used before the first rollout exists; afterwards the probe batch is the first rollouts.
FALLBACK_PROBE_TEXT = "Compute 12 + 7 * 3. Step 1: 7 * 3 = 21. Step 2: 12 + 21 = 33. <answer>33</answer>"

DEFAULT_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-3, torch.bfloat16: 5e-2, torch.float16: 5e-2}


class WeightSyncError(RuntimeError):
    """The engine's logprobs disagree with the trainer's after a sync: rollouts would be off-policy."""


@dataclass(frozen=True)
class ProbeResult:
    max_abs_diff: float
    mean_abs_diff: float
    num_tokens: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def default_tolerance(dtype: torch.dtype) -> float:
    """Float32 engines match the trainer to ~1e-6 here; half precision kernels differ by ~1e-2."""
    return DEFAULT_TOLERANCE.get(dtype, 5e-2)


@torch.no_grad()
def trainer_logprobs(model: nn.Module, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
    """For each sequence, log p(tok[t] | tok[<t]) for t >= 1 under `model` in eval mode (no dropout)."""
    device = next(model.parameters()).device
    width = max(len(s) for s in sequences)
    ids = torch.zeros((len(sequences), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, seq in enumerate(sequences):  # right padding: real tokens at positions 0..len-1
        ids[i, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[i, : len(seq)] = 1
    was_training = model.training
    model.eval()
    try:
        lp, _ = token_logprobs(model, ids.to(device), mask.to(device))  # [N, T], column 0 is 0
    finally:
        model.train(was_training)
    lp = lp.float().cpu()
    return [lp[i, 1 : len(seq)].tolist() for i, seq in enumerate(sequences)]


def compare(
    engine: Sequence[Sequence[float]], trainer: Sequence[Sequence[float]], tolerance: float
) -> ProbeResult:
    """Max and mean |difference| over all probe tokens (sequences must align token for token)."""
    if len(engine) != len(trainer):
        raise AssertionError(f"probe: {len(engine)} engine rows vs {len(trainer)} trainer rows")
    diffs: list[float] = []
    for e_row, t_row in zip(engine, trainer):
        if len(e_row) != len(t_row):
            raise AssertionError(f"probe: row lengths differ ({len(e_row)} vs {len(t_row)})")
        diffs.extend(abs(a - b) for a, b in zip(e_row, t_row))
    if not diffs:
        raise AssertionError("probe batch has no scored tokens")
    return ProbeResult(max(diffs), sum(diffs) / len(diffs), len(diffs), tolerance)


def raise_if_mismatch(result: ProbeResult, sync_index: int, how: str) -> None:
    if result.ok:
        return
    raise WeightSyncError(
        f"vLLM weights disagree with the trainer after sync #{sync_index} ({how}): "
        f"max |logprob difference| {result.max_abs_diff:.4g} > tolerance {result.tolerance:.4g} "
        f"(mean {result.mean_abs_diff:.4g} over {result.num_tokens} probe tokens). The engine is "
        "sampling from stale or wrong weights; rollouts would be off-policy. Check vllm.lora_sync, "
        "the model dtype, or raise vllm.probe_tolerance if the kernels legitimately differ."
    )


def probe_sequences(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], size: int, max_len: int
) -> list[list[int]]:
    """The first `size` prompt+completion sequences (at least two tokens each, at most `max_len`)."""
    out: list[list[int]] = []
    for prompt, completion in zip(prompts, completions):
        seq = (list(prompt) + list(completion))[:max_len]
        if len(seq) >= 2:
            out.append(seq)
        if len(out) == size:
            break
    return out


def log_sync(output_dir: str | None, record: dict[str, Any]) -> None:
    """Append one sync (seconds, tensors, probe mismatch) to <output_dir>/vllm_sync.jsonl, if that run dir exists.

    The trainer records only `time_sync`; this file keeps the probe's numbers for every sync.
    """
    if not output_dir or not Path(output_dir).is_dir():
        return
    with open(Path(output_dir) / "vllm_sync.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=float) + "\n")
