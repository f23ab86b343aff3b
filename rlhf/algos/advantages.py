"""Advantage estimators: `AdvantageFn(batch: RolloutBatch, cfg: AlgoSection) -> Tensor[N, T]`.

Every estimator returns per-token advantages that are zero outside `response_mask`,
so the loss never special-cases one. Each is registered with an `EstimatorInfo` saying
which batch fields it reads (outcomes [N], step scores [N, T], token rewards [N, T],
critic values [N, T]); the loops, metrics and recipe checks read that, never the name.
An unverifiable outcome (outcome_mask 0) is absent, not 0: it does not enter any group
statistic, and outcome- and token-level estimators give that rollout zero advantage.
Group statistics use the unbiased std (as TRL and verl do); a group with fewer than two
counted values has std 0, hence zero advantage.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rlhf.algos.registry import ADVANTAGES, EstimatorInfo
from rlhf.algos.stats import group_stats, masked_whiten, reverse_cumsum
from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import AlgoSection


def _valid_rows(batch: RolloutBatch) -> Tensor:
    return batch.outcome_mask > 0  # [N] bool


def _broadcast(per_row: Tensor, batch: RolloutBatch) -> Tensor:
    """[N] -> [N, T], zero outside the response."""
    mask = batch.response_mask.to(per_row.dtype)  # [N, T]
    return per_row[:, None] * mask


def _safe_scale(std: Tensor, eps: float) -> Tensor:
    """std + eps, with 1 where that is 0 (a flat group: its centred values are all 0 already)."""
    scale = std + eps
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def _centred_outcomes(batch: RolloutBatch, scale_std: bool, eps: float) -> Tensor:
    """(r_i - mean_g) [/ (std_g + eps)] per rollout: [N]; 0 for unverifiable rollouts."""
    rewards = batch.outcome_rewards.float()  # [N]
    valid = _valid_rows(batch)  # [N]
    st = group_stats(rewards, valid, batch.group_index)
    adv = rewards - st.mean  # [N]
    if scale_std:
        adv = adv / _safe_scale(st.std, eps)
    return torch.where(valid, adv, torch.zeros_like(adv))


@ADVANTAGES.register(
    "grpo",
    info=EstimatorInfo(
        reads=frozenset({"outcomes"}),
        needs_group=True,
        description="(r - group mean) / group std on every token (`scale_std: false`: no std)",
    ),
)
def grpo(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """GRPO (DeepSeekMath): A_i = (r_i - mean_group) / (std_group + eps) on every token: [N, T].

    ``cfg.scale_std = false`` drops the division (the std rescales easy and hard groups
    unequally, the bias Dr.GRPO points out).
    """
    return _broadcast(_centred_outcomes(batch, cfg.scale_std, cfg.adv_eps), batch)


@ADVANTAGES.register(
    "dr_grpo",
    info=EstimatorInfo(
        reads=frozenset({"outcomes"}),
        needs_group=True,
        description="r - group mean on every token, never std-scaled (Dr.GRPO)",
    ),
)
def dr_grpo(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """Dr.GRPO: A_i = r_i - mean_group, never std-scaled: [N, T].

    Pair it with ``agg: constant`` so response length does not rescale the gradient either.
    """
    return _broadcast(_centred_outcomes(batch, scale_std=False, eps=0.0), batch)


@ADVANTAGES.register(
    "rloo",
    info=EstimatorInfo(
        reads=frozenset({"outcomes"}),
        needs_group=True,
        description="r - mean of the other samples of the group",
    ),
)
def rloo(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """RLOO: A_i = r_i - mean of the *other* verifiable rewards in the group: [N, T].

    Equal to K/(K-1) * (r_i - mean_group) with K counted samples; 0 when K < 2.
    """
    rewards = batch.outcome_rewards.float()  # [N]
    valid = _valid_rows(batch)  # [N]
    st = group_stats(rewards, valid, batch.group_index)
    k = st.count  # [N]
    adv = (rewards - st.mean) * k / (k - 1.0).clamp(min=1.0)  # [N]
    adv = torch.where(valid & (k > 1), adv, torch.zeros_like(adv))
    return _broadcast(adv, batch)


def _token_returns_whitened(rewards: Tensor, batch: RolloutBatch, gamma: float) -> Tensor:
    valid_tokens = batch.response_mask * _valid_rows(batch)[:, None].to(batch.response_mask.dtype)  # [N, T]
    returns = reverse_cumsum(rewards, valid_tokens, gamma)  # [N, T]
    return masked_whiten(returns, valid_tokens)


@ADVANTAGES.register(
    "reinforce_pp",
    info=EstimatorInfo(
        reads=frozenset({"token_rewards"}),
        description="return-to-go of the token rewards, whitened over the batch (REINFORCE++)",
    ),
)
def reinforce_pp(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """REINFORCE++: discounted return-to-go of the token rewards, whitened over the batch: [N, T].

    The token rewards hold step scores, the outcome at the last token and, when
    ``kl_in_reward``, the per-token KL penalty (see `rlhf.algos.kl.fold_kl_into_rewards`).
    """
    return _token_returns_whitened(batch.token_rewards.float(), batch, cfg.gamma)


@ADVANTAGES.register(
    "reinforce_pp_baseline",
    info=EstimatorInfo(
        reads=frozenset({"outcomes", "token_rewards"}),
        description="return-to-go minus the group mean outcome, whitened over the batch",
    ),
)
def reinforce_pp_baseline(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """REINFORCE++ with a group baseline: the group's mean outcome is subtracted at the
    last response token before returns are taken and whitened over the batch: [N, T].
    """
    rewards = batch.token_rewards.float().clone()  # [N, T]
    st = group_stats(batch.outcome_rewards.float(), _valid_rows(batch), batch.group_index)
    last = last_token_index(batch.response_mask)  # [N]
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] -= st.mean
    return _token_returns_whitened(rewards, batch, cfg.gamma)


def last_token_index(response_mask: Tensor) -> Tensor:
    """Index of each row's last response token: [N, T] -> [N] (0 for an empty row)."""
    positions = torch.arange(1, response_mask.shape[1] + 1, device=response_mask.device)  # [T]
    return ((response_mask > 0).long() * positions).argmax(dim=1)


class GaeResult(NamedTuple):
    advantages: Tensor  # [N, T] raw (not whitened), zero outside valid response tokens
    returns: Tensor  # [N, T] advantages + values: the value-loss target


def gae_advantages_returns(batch: RolloutBatch, gamma: float, lam: float) -> GaeResult:
    """Generalised advantage estimation over response tokens: [N, T] -> ([N, T], [N, T]).

    delta_t = r_t + gamma * V_next - V_t and A_t = delta_t + gamma * lam * A_next, where
    "next" is the next *response* token (prompt and padding are skipped) and V after
    the last response token is 0. Rows with an unverifiable outcome get zeros.
    """
    if batch.values is None:
        raise ValueError("advantage 'gae' needs batch.values (critic values), got None")
    mask = batch.response_mask.float() * _valid_rows(batch)[:, None].float()  # [N, T]
    rewards = torch.where(mask.bool(), batch.token_rewards.float(), 0.0)  # [N, T]
    values = torch.where(mask.bool(), batch.values.float(), 0.0)  # [N, T]
    adv = torch.zeros_like(rewards)  # [N, T]
    next_value = rewards.new_zeros(rewards.shape[0])  # [N]
    next_adv = rewards.new_zeros(rewards.shape[0])  # [N]
    for t in range(rewards.shape[1] - 1, -1, -1):
        m = mask[:, t]  # [N]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        here = delta + gamma * lam * next_adv
        next_adv = m * here + (1.0 - m) * next_adv
        next_value = m * values[:, t] + (1.0 - m) * next_value
        adv[:, t] = here * m
    return GaeResult(advantages=adv, returns=(adv + values) * mask)


@ADVANTAGES.register(
    "gae",
    info=EstimatorInfo(
        reads=frozenset({"token_rewards", "values"}),
        description="GAE(gamma, lambda) against the critic, whitened when `gae_whiten`",
    ),
)
def gae(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """PPO's GAE(gamma, lambda) advantages, whitened over the batch when ``cfg.gae_whiten``: [N, T]."""
    result = gae_advantages_returns(batch, cfg.gamma, cfg.gae_lambda)
    if not cfg.gae_whiten:
        return result.advantages
    mask = batch.response_mask.float() * _valid_rows(batch)[:, None].float()  # [N, T]
    return masked_whiten(result.advantages, mask)


def critic_returns(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """The critic's regression target: GAE(gamma, lambda)'s returns A + V: [N, T].

    These are the values `gae` measures its advantages against, so a critic trained on
    them is the one a critic-reading estimator (`EstimatorInfo.needs_critic`) expects.
    PPO's value loss needs them whatever the estimator; needs ``batch.values``.
    """
    return gae_advantages_returns(batch, cfg.gamma, cfg.gae_lambda).returns


def batch_holds(batch: RolloutBatch, reads: frozenset[str]) -> bool:
    """Whether ``batch`` carries every input named in ``reads`` (see `rlhf.algos.registry.INPUTS`):
    outcomes and token rewards always do; steps need a scored step, values a critic's output."""
    held = {
        "outcomes": True,
        "token_rewards": True,
        "steps": batch.step_rewards is not None
        and batch.step_mask is not None
        and bool(batch.step_mask.any()),
        "values": batch.values is not None,
    }
    return all(held[key] for key in reads)


@ADVANTAGES.register(
    "process_grpo",
    info=EstimatorInfo(
        reads=frozenset({"steps"}),
        description="sum of the group-normalised scores of the steps ending at or after it (DeepSeekMath §4.1.3)",
    ),
)
def process_grpo(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """Process-supervised GRPO (DeepSeekMath section 4.1.3): [N, T].

    Every scored step reward is normalised with the mean and std of *all* scored steps
    of *all* samples in its group: r~ = (r - mean) / (std + eps) (no division when
    ``scale_std`` is false). A token's advantage is the sum of r~ over the steps of its
    own completion that end at or after it, so early tokens answer for every later step.
    With ``step_norm: count`` each completion's terms are divided by its number of scored
    steps, so a completion's first token gets the mean, not the sum, of its normalised steps:
    writing more (correct) steps no longer raises the advantage of the whole trace.
    """
    if batch.step_rewards is None or batch.step_mask is None:
        raise ValueError("advantage 'process_grpo' needs batch.step_rewards and batch.step_mask, got None")
    n, t = batch.step_rewards.shape
    scored = (batch.step_mask > 0) & (batch.response_mask > 0)  # [N, T] step-final tokens with a score
    rewards = batch.step_rewards.float()  # [N, T]
    groups = batch.group_index[:, None].expand(n, t)  # [N, T]
    st = group_stats(rewards.reshape(-1), scored.reshape(-1), groups.reshape(-1))
    norm = rewards - st.mean.view(n, t)  # [N, T]
    if cfg.scale_std:
        norm = norm / _safe_scale(st.std.view(n, t), cfg.adv_eps)
    norm = torch.where(scored, norm, torch.zeros_like(norm))  # [N, T]
    if cfg.step_norm == "count":  # a completion's step terms sum to their mean: padding buys nothing
        norm = norm / scored.sum(dim=1, keepdim=True).clamp(min=1).to(norm.dtype)
    return reverse_cumsum(norm, batch.response_mask)


@ADVANTAGES.register(
    "mixed",
    info=EstimatorInfo(
        reads=frozenset({"outcomes", "steps"}),
        description="`outcome_weight * grpo + process_weight * process_grpo`",
        parts=(("outcome", "grpo"), ("process", "process_grpo")),
    ),
)
def mixed(batch: RolloutBatch, cfg: AlgoSection) -> Tensor:
    """outcome_weight * grpo + process_weight * process_grpo: [N, T].

    A rollout with an unverifiable outcome keeps its process part only.
    """
    return cfg.outcome_weight * grpo(batch, cfg) + cfg.process_weight * process_grpo(batch, cfg)


class ZeroVariance(NamedTuple):
    rows: Tensor  # [N] bool: rollout belongs to a group without reward variance
    num_groups: int  # how many such groups
    num_rows: int  # how many rollouts they hold


def zero_variance_groups(
    outcome_rewards: Tensor, outcome_mask: Tensor, group_index: Tensor, atol: float = 1e-6
) -> ZeroVariance:
    """Groups whose verifiable outcomes are all equal (all right, all wrong, or none verifiable).

    Such groups give every rollout zero group-relative advantage, so DAPO's dynamic
    sampling drops them and samples more prompts; the loop does that, this only finds
    them. ``outcome_rewards``, ``outcome_mask``, ``group_index``: [N].
    """
    rewards = outcome_rewards.float()
    valid = outcome_mask > 0
    _, inverse = torch.unique(group_index, return_inverse=True)  # [N] -> 0..G-1
    num_groups = int(inverse.max().item()) + 1 if inverse.numel() else 0
    hi = torch.full((num_groups,), -torch.inf, device=rewards.device)
    lo = torch.full((num_groups,), torch.inf, device=rewards.device)
    hi = hi.scatter_reduce(0, inverse, torch.where(valid, rewards, -torch.inf), reduce="amax")
    lo = lo.scatter_reduce(0, inverse, torch.where(valid, rewards, torch.inf), reduce="amin")
    flat = ~((hi - lo) > atol)  # [G]: no valid entries gives -inf - inf = -inf, counted as flat
    rows = flat[inverse]  # [N]
    return ZeroVariance(rows=rows, num_groups=int(flat.sum().item()), num_rows=int(rows.sum().item()))
