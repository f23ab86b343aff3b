"""Stepwise supervision rows -> token ids with one label per step, and batching.

A row is TRL's stepwise format: ``prompt`` (str), ``completions`` (list of step strings),
``labels`` (one per step: bool, or a float in [0, 1] for soft Monte Carlo labels).
The PRM reads ``prompt + "\\n"`` then each step followed by the separator; the step's label
sits on the separator token (the last token of the step's piece), every other position is
ignored. Pieces are tokenised separately so step boundaries are exact whatever the tokenizer
does at the joins, and scoring (rewards.prm.model) builds its inputs the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

IGNORE = -100.0


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    targets: list[float]  # per token: IGNORE, or the probability that the step is good
    step_positions: list[int]  # token index of each (kept) step's label
    good_upto: int = 0  # tokens [0, good_upto) are the prompt and the leading run of good steps


def check_row(row: dict[str, Any], where: str = "row") -> dict[str, Any]:
    """Validate one stepwise row (clear errors for hand-made files)."""
    for key in ("prompt", "completions", "labels"):
        if key not in row:
            raise ValueError(f"{where}: missing {key!r} (a stepwise row has prompt, completions, labels)")
    steps, labels = row["completions"], row["labels"]
    if not isinstance(steps, list) or not isinstance(labels, list) or len(steps) != len(labels):
        raise ValueError(
            f"{where}: completions and labels must be lists of equal length "
            f"(got {len(steps) if isinstance(steps, list) else steps!r} steps, "
            f"{len(labels) if isinstance(labels, list) else labels!r} labels)"
        )
    for label in labels:
        if isinstance(label, bool):
            continue
        if not isinstance(label, (int, float)) or not 0.0 <= float(label) <= 1.0:
            raise ValueError(f"{where}: label {label!r} must be a bool or a number in [0, 1]")
    return row


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"stepwise data file not found: {p}")
    rows = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}:{n}: not JSON: {exc.msg}") from None
    return rows


def encode_row(
    tokenizer: Any,
    prompt: str,
    steps: Sequence[str],
    labels: Sequence[Any] | None = None,
    sep: str = "\n",
    max_length: int = 1024,
) -> Encoded:
    """Token ids and per-token targets; steps that do not fit in `max_length` are dropped."""

    def enc(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    prompt_ids = enc(prompt + "\n")
    budget = max_length // 2
    if len(prompt_ids) > budget:  # keep the end of a very long prompt (the question is there)
        prompt_ids = prompt_ids[-budget:]
    ids = list(prompt_ids)
    targets = [IGNORE] * len(ids)
    positions = []
    good_upto, good_run = len(ids), True
    for i, step in enumerate(steps):
        piece = enc(" ".join(str(step).split("\n")).strip() + sep)
        if not piece or len(ids) + len(piece) > max_length:
            break
        ids += piece
        label = 1.0 if labels is None else float(labels[i])
        targets += [IGNORE] * (len(piece) - 1) + [label]
        positions.append(len(ids) - 1)
        good_run = good_run and label >= 0.5
        if good_run:
            good_upto = len(ids)
    return Encoded(ids, targets, positions, good_upto)


def collate(batch: Iterable[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    items = list(batch)
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    targets = torch.full((len(items), width), IGNORE, dtype=torch.float32)
    lm_mask = torch.zeros((len(items), width), dtype=torch.float32)
    for r, e in enumerate(items):  # right padding: positions match `step_positions`
        n = len(e.input_ids)
        ids[r, :n] = torch.tensor(e.input_ids)
        attn[r, :n] = 1
        targets[r, :n] = torch.tensor(e.targets)
        lm_mask[r, : max(e.good_upto - 1, 0)] = 1.0  # position t predicts token t + 1
    return {"input_ids": ids, "attention_mask": attn, "targets": targets, "lm_mask": lm_mask}


def step_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against (possibly soft) step targets, averaged over labelled positions.

    logits [B, T, 2], targets [B, T] with IGNORE where there is no label.
    """
    mask = targets != IGNORE  # [B, T]
    if not mask.any():
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits.float(), dim=-1)[mask]  # [M, 2]
    p = targets[mask]  # [M]
    return -(p * logp[:, 1] + (1 - p) * logp[:, 0]).mean()


def lm_loss(
    hidden: torch.Tensor, embeddings: torch.Tensor, input_ids: torch.Tensor, lm_mask: torch.Tensor
) -> torch.Tensor:
    """Auxiliary next-token loss through the (tied) input embeddings, on good text only.

    hidden [B, T, H] (the backbone's final, normalised states), embeddings [V, H],
    lm_mask [B, T] marks positions whose next token is part of the prompt or a good step.
    Dense supervision teaches a small backbone the arithmetic that one label per step
    barely reaches; wrong steps are never imitated.
    """
    mask = lm_mask[:, :-1] > 0  # [B, T-1]
    if not mask.any():
        return hidden.sum() * 0.0
    logits = hidden[:, :-1][mask] @ embeddings.t()  # [M, V]
    return torch.nn.functional.cross_entropy(logits.float(), input_ids[:, 1:][mask])
