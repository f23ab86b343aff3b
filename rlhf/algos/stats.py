"""Masked statistics over padded tensors, and per-group statistics.

Padding and unverifiable rewards must never enter a mean or a variance, so every
statistic here takes an explicit mask (1 = counts, 0 = ignored). Group statistics
work on flat values tagged with a group id, which serves both outcome rewards
(one value per rollout) and step rewards (many values per rollout).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


def masked_sum(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Sum of ``x`` where ``mask`` is 1 (``x`` and ``mask`` broadcastable)."""
    prod = torch.where(mask.bool(), x, torch.zeros_like(x))  # where, not *: masked NaN/inf stay out
    return prod.sum() if dim is None else prod.sum(dim)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean over the masked entries; 0 where nothing is masked in (never NaN)."""
    mask = mask.to(x.dtype).expand_as(x)
    count = mask.sum() if dim is None else mask.sum(dim)
    return masked_sum(x, mask, dim) / count.clamp(min=1.0)


def masked_var(x: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance over all masked entries (a scalar); 0 when fewer than two entries count."""
    mask = mask.to(x.dtype).expand_as(x)
    count = mask.sum()
    mean = masked_mean(x, mask)
    sq = masked_sum((x - mean) ** 2, mask)
    denom = count - 1.0 if unbiased else count
    return torch.where(count > 1, sq / denom.clamp(min=1.0), torch.zeros_like(sq))


def masked_whiten(x: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over the masked entries; entries outside the mask become 0.

    With ``shift_mean=False`` only the scale changes (the mean is added back), as some
    PPO implementations do to keep the sign of a mostly-positive signal.
    """
    mask_f = mask.to(x.dtype).expand_as(x)
    mean = masked_mean(x, mask_f)
    std = masked_var(x, mask_f).sqrt()
    out = (x - mean) / (std + eps)
    if not shift_mean:
        out = out + mean
    return torch.where(mask_f.bool(), out, torch.zeros_like(out))


class GroupStats(NamedTuple):
    """Per-entry statistics of the entry's group (same shape as the input values)."""

    mean: Tensor  # [M] mean of the group's masked values
    std: Tensor  # [M] std of the group's masked values (0 with fewer than two)
    count: Tensor  # [M] number of masked values in the group


def group_stats(values: Tensor, mask: Tensor, group_ids: Tensor, unbiased: bool = True) -> GroupStats:
    """Mean/std/count of masked ``values`` within each group, broadcast back per entry.

    ``values``, ``mask``, ``group_ids``: [M]. Group ids may be any integers (they are
    compacted here). Masked-out entries do not count but still receive their group's
    statistics, so a caller can decide what to give them.
    """
    values = values.reshape(-1)
    mask_f = mask.reshape(-1).to(values.dtype)
    _, inverse = torch.unique(group_ids.reshape(-1), return_inverse=True)  # [M] -> 0..G-1
    num_groups = int(inverse.max().item()) + 1 if inverse.numel() else 0
    zeros = values.new_zeros(num_groups)
    safe_values = torch.where(mask_f.bool(), values, torch.zeros_like(values))
    count = zeros.index_add(0, inverse, mask_f)  # [G]
    total = zeros.index_add(0, inverse, safe_values)  # [G]
    mean = total / count.clamp(min=1.0)  # [G]
    sq = zeros.index_add(0, inverse, mask_f * (safe_values - mean[inverse]) ** 2)  # [G]
    denom = (count - 1.0) if unbiased else count
    var = torch.where(count > 1, sq / denom.clamp(min=1.0), torch.zeros_like(sq))  # [G]
    return GroupStats(mean=mean[inverse], std=var.sqrt()[inverse], count=count[inverse])


def reverse_cumsum(x: Tensor, mask: Tensor, gamma: float = 1.0) -> Tensor:
    """out[:, t] = sum over masked s >= t of gamma^(#masked steps between) * x[:, s].

    ``x``, ``mask``: [N, T]. Positions outside the mask neither add nor discount, so
    left padding, prompt tokens and right padding are all harmless; the result is
    zero outside the mask.
    """
    mask_f = mask.to(x.dtype)
    x = torch.where(mask_f.bool(), x, torch.zeros_like(x))
    if gamma == 1.0:
        out = x.flip(-1).cumsum(-1).flip(-1)  # [N, T]
        return out * mask_f
    out = torch.zeros_like(x)
    running = x.new_zeros(x.shape[0])  # [N]
    for t in range(x.shape[1] - 1, -1, -1):
        m = mask_f[:, t]
        running = m * (x[:, t] + gamma * running) + (1.0 - m) * running
        out[:, t] = running
    return out * mask_f
