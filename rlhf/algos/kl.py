"""Per-token estimators of KL(policy || reference) from sampled tokens (Schulman, 2020).

With tokens drawn from the policy and log r = log p_ref(y) - log p(y):
  k1 = -log r                 unbiased, high variance, can be negative
  k2 = (log r)^2 / 2          biased, low variance, always >= 0
  k3 = (r - 1) - log r        unbiased, low variance, always >= 0 (GRPO's choice)
The KL either becomes a loss term (`kl_coef * agg(kl)`) or is subtracted from the
token rewards before advantages are computed (`fold_kl_into_rewards`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import AlgoSection

LOG_RATIO_CLAMP = 20.0  # exp(20) ~ 5e8: large enough to be exact in practice, small enough not to overflow


def _log_r(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    return (ref_logprobs - logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)  # [N, T]


def kl_k1(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k1 = log p - log p_ref, per token: [N, T] -> [N, T]."""
    return -_log_r(logprobs, ref_logprobs)


def kl_k2(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k2 = (log p - log p_ref)^2 / 2, per token: [N, T] -> [N, T]."""
    return 0.5 * _log_r(logprobs, ref_logprobs) ** 2


def kl_k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """k3 = p_ref/p - 1 - log(p_ref/p), per token: [N, T] -> [N, T]."""
    log_r = _log_r(logprobs, ref_logprobs)
    return torch.expm1(log_r) - log_r


KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token KL by estimator name ('k1' | 'k2' | 'k3'): [N, T] -> [N, T]."""
    try:
        fn = KL_ESTIMATORS[estimator]
    except KeyError:
        valid = ", ".join(KL_ESTIMATORS)
        raise ValueError(f"algo.kl_estimator: unknown {estimator!r}; valid: {valid}") from None
    return fn(logprobs, ref_logprobs)


def fold_kl_into_rewards(batch: RolloutBatch, cfg: AlgoSection) -> tuple[RolloutBatch, Tensor]:
    """Subtract ``kl_coef * KL(old policy || reference)`` from every response token's reward.

    Returns the new batch (only `token_rewards` changes) and the per-token KL [N, T]
    (zero outside the response) for logging. Token-level estimators (reinforce_pp,
    reinforce_pp_baseline, gae) then turn these rewards into returns; call this once
    per batch, before the advantage estimator, when ``cfg.kl_in_reward``.
    """
    if batch.ref_logprobs is None:
        raise ValueError("algo.kl_in_reward needs batch.ref_logprobs (a reference model), got None")
    mask = batch.response_mask.bool()  # [N, T]
    kl = kl_penalty(batch.old_logprobs, batch.ref_logprobs, cfg.kl_estimator)  # [N, T]
    kl = torch.where(mask, kl, torch.zeros_like(kl))  # padding may hold -inf/NaN logprobs
    rewards = batch.token_rewards - cfg.kl_coef * kl  # [N, T]
    return dataclasses.replace(batch, token_rewards=rewards), kl
