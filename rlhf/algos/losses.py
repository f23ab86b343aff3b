"""Policy losses: `LossFn(logprobs, batch, advantages, cfg, entropy=None) -> LossOutput`.

`logprobs` [N, T] are the current policy's log-probabilities of `batch.input_ids`
(with grad); `advantages` [N, T] come from an `AdvantageFn` and are treated as
constants. The returned `loss` is what to backpropagate: the clipped surrogate,
plus ``kl_coef * KL(policy || reference)`` unless the KL was folded into the reward,
minus ``entropy_coef * entropy``, each aggregated the same way (`aggregate`).

Two policy losses share one clipped surrogate and differ only in the ratio:
  ppo_clip  per-token ratio pi/pi_old, clipped to [1 - clip_low, 1 + clip_high]
            (DAPO clip-higher when clip_high > clip_low), optional dual clip.
  gspo      one ratio per sequence: exp(mean_t log(pi/pi_old)) (GSPO), which keeps
            a whole sequence in or out of the trust region; its clip ranges are
            much smaller (GSPO uses 3e-4 / 4e-4).
The truncated importance-sampling (TIS) correction multiplies each token's loss by
min(pi_old / pi_sampler, tis_cap): the rollout engine's numerics differ from the
trainer's, so its samples are slightly off-policy even on the first update, and under
`train.async` they come from a policy one or more versions old. The masked variant
(`tis_mode: mask`) keeps the ratio where it is at most the cap and drops the token
(weight 0) where it is above: a token the sampler found far likelier than the trainer
does carries a gradient estimate too noisy to keep, even truncated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from rlhf.algos.kl import LOG_RATIO_CLAMP, kl_penalty
from rlhf.algos.registry import LOSSES
from rlhf.algos.stats import masked_mean, masked_sum
from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import AlgoSection

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "constant")


@dataclass
class LossOutput:
    loss: Tensor  # scalar, with grad
    metrics: dict[str, float] = field(default_factory=dict)


def aggregate(x: Tensor, mask: Tensor, mode: str, norm_constant: float | None = None) -> Tensor:
    """Reduce per-token losses [N, T] to a scalar.

    token-mean           sum / #tokens: every token weighs the same, so long
                         responses weigh more in total (DAPO).
    seq-mean-token-mean  mean over sequences of each one's token mean: every sequence
                         weighs the same, so a long one's tokens each weigh less (GRPO paper).
    seq-mean-token-sum   mean over sequences of each one's token sum.
    constant             sum / (N * norm_constant) (Dr.GRPO): a token's weight does
                         not depend on any length; norm_constant defaults to T.
    Sequence means are over rows with at least one token.
    """
    mask_f = mask.to(x.dtype)  # [N, T]
    if mode == "token-mean":
        return masked_sum(x, mask_f) / mask_f.sum().clamp(min=1.0)
    lengths = mask_f.sum(dim=1)  # [N]
    rows = (lengths > 0).to(x.dtype).sum().clamp(min=1.0)
    if mode == "seq-mean-token-mean":
        return (masked_sum(x, mask_f, dim=1) / lengths.clamp(min=1.0)).sum() / rows
    if mode == "seq-mean-token-sum":
        return masked_sum(x, mask_f, dim=1).sum() / rows
    if mode == "constant":
        constant = float(norm_constant) if norm_constant is not None else float(x.shape[1])
        return masked_sum(x, mask_f) / (x.shape[0] * constant)
    raise ValueError(f"algo.agg: unknown {mode!r}; valid: {', '.join(AGGREGATIONS)}")


def microbatch_scale(micro_mask: Tensor, full_mask: Tensor, mode: str) -> float:
    """Factor that makes micro-batch losses add up to the full batch's loss.

    Gradient accumulation over micro-batches (rows of one batch) must not change what is
    optimised: ``sum_m microbatch_scale(mask_m, mask, mode) * aggregate(x_m, mask_m, mode)``
    equals ``aggregate(x, mask, mode)`` for every mode (token-mean divides by the *batch's*
    token count, not each micro-batch's). ``mask`` arguments: [n, T] and [N, T]. With
    ``constant`` pass ``norm_constant`` explicitly if micro-batches are re-padded.
    """
    if mode == "token-mean":
        part, whole = micro_mask.sum(), full_mask.sum()
    elif mode in ("seq-mean-token-mean", "seq-mean-token-sum"):
        part, whole = (micro_mask.sum(dim=1) > 0).sum(), (full_mask.sum(dim=1) > 0).sum()
    elif mode == "constant":
        return micro_mask.shape[0] / max(full_mask.shape[0], 1)
    else:
        raise ValueError(f"algo.agg: unknown {mode!r}; valid: {', '.join(AGGREGATIONS)}")
    return float(part) / max(float(whole), 1.0)


def is_ratio(batch: RolloutBatch) -> Tensor | None:
    """pi_old / pi_sampler per token [N, T] (1 off the response), or None without sampler logprobs."""
    if batch.sampler_logprobs is None:
        return None
    log_w = _on_response(batch.old_logprobs - batch.sampler_logprobs, batch.response_mask)  # [N, T]
    return log_w.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp().detach()


def tis_weights(batch: RolloutBatch, cap: float | None, mode: str = "truncate") -> Tensor | None:
    """Importance weights per token [N, T], or None when off or no sampler logprobs.

    truncate: min(ratio, cap). mask: ratio where ratio <= cap, else 0 (the token leaves the loss).
    """
    if cap is None:
        return None
    ratio = is_ratio(batch)  # [N, T]
    if ratio is None:
        return None
    if mode == "truncate":
        return ratio.clamp(max=cap)
    if mode == "mask":
        return torch.where(ratio > cap, torch.zeros_like(ratio), ratio)
    raise ValueError(f"algo.tis_mode: unknown {mode!r}; valid: truncate, mask")


def is_metrics(ratio: Tensor, mask: Tensor, cap: float) -> dict[str, float]:
    """Mean and max of the importance ratio over response tokens, and the share the cap clipped or masked."""
    on = mask > 0  # [N, T]
    if not bool(on.any()):
        return {"is_ratio_mean": 1.0, "is_ratio_max": 1.0, "is_clipped_frac": 0.0}
    return {
        "is_ratio_mean": float(masked_mean(ratio, on)),
        "is_ratio_max": float(ratio[on].max()),
        "is_clipped_frac": float(masked_mean((ratio > cap).float(), on)),
    }


def _on_response(x: Tensor, mask: Tensor) -> Tensor:
    """x on response tokens, 0 elsewhere. Padding may hold -inf or NaN logprobs; a
    multiplication by them would turn a zero gradient into NaN, a `where` does not."""
    return torch.where(mask > 0, x, torch.zeros_like(x))


def _clipped_surrogate(
    log_ratio: Tensor,
    logprobs: Tensor,
    batch: RolloutBatch,
    advantages: Tensor,
    cfg: AlgoSection,
    entropy: Tensor | None,
) -> LossOutput:
    mask = batch.response_mask > 0  # [N, T]
    adv = _on_response(advantages, mask).detach()  # [N, T]
    ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()  # [N, T]
    low, high = 1.0 - cfg.clip_low, 1.0 + cfg.clip_high
    loss_unclipped = -adv * ratio  # [N, T]
    loss_clipped = -adv * ratio.clamp(low, high)  # [N, T]
    pg = torch.maximum(loss_unclipped, loss_clipped)  # [N, T] pessimistic bound
    dual_clipped = torch.zeros_like(mask)
    if cfg.dual_clip is not None:
        # With A < 0 and a huge ratio, the max above is unbounded; cap it at -A * c.
        cap = -adv * cfg.dual_clip  # [N, T]
        dual_clipped = (adv < 0) & (pg > cap)
        pg = torch.where(dual_clipped, cap, pg)
    weights = tis_weights(batch, cfg.tis_cap, cfg.tis_mode)
    if weights is not None:
        pg = pg * weights
    pg_loss = aggregate(pg, mask, cfg.agg, cfg.norm_constant)
    loss = pg_loss

    metrics: dict[str, float] = {"pg_loss": float(pg_loss.detach())}
    if cfg.kl_coef > 0 and not cfg.kl_in_reward:
        if batch.ref_logprobs is None:
            raise ValueError(f"algo.kl_coef={cfg.kl_coef} needs batch.ref_logprobs (a reference model)")
        ref = _on_response(batch.ref_logprobs, mask)  # [N, T]
        kl = kl_penalty(_on_response(logprobs, mask), ref, cfg.kl_estimator)  # [N, T]
        kl_loss = aggregate(kl, mask, cfg.agg, cfg.norm_constant)
        loss = loss + cfg.kl_coef * kl_loss
        metrics["kl_ref"] = float(masked_mean(kl.detach(), mask))
    if cfg.entropy_coef > 0:
        if entropy is None:
            raise ValueError(f"algo.entropy_coef={cfg.entropy_coef} needs per-token entropy, got None")
        loss = loss - cfg.entropy_coef * aggregate(entropy, mask, cfg.agg, cfg.norm_constant)

    with torch.no_grad():
        r = ratio.detach()
        clipped_low = (adv < 0) & (r < low)  # gradient zeroed by the lower bound
        clipped_high = (adv > 0) & (r > high)  # gradient zeroed by the upper bound
        lr = log_ratio.detach().clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        any_tok = bool(mask.any())
        metrics.update(
            clip_frac=float(masked_mean((clipped_low | clipped_high).float(), mask)),
            clip_frac_low=float(masked_mean(clipped_low.float(), mask)),
            clip_frac_high=float(masked_mean(clipped_high.float(), mask)),
            dual_clip_frac=float(masked_mean(dual_clipped.float(), mask)),
            approx_kl=float(masked_mean(torch.expm1(lr) - lr, mask)),  # k3 of KL(old || new)
            ratio_mean=float(masked_mean(r, mask)),
            ratio_max=float(r[mask].max()) if any_tok else 1.0,
            ratio_min=float(r[mask].min()) if any_tok else 1.0,
        )
        if entropy is not None:
            metrics["entropy"] = float(masked_mean(entropy.detach().float(), mask))
        if weights is not None:
            metrics["tis_weight_mean"] = float(masked_mean(weights, mask))
            metrics["tis_capped_frac"] = float(masked_mean((weights >= cfg.tis_cap).float(), mask))
            metrics.update(is_metrics(is_ratio(batch), mask, cfg.tis_cap))
    return LossOutput(loss=loss, metrics=metrics)


@LOSSES.register("ppo_clip")
def ppo_clip(
    logprobs: Tensor, batch: RolloutBatch, advantages: Tensor, cfg: AlgoSection, entropy: Tensor | None = None
) -> LossOutput:
    """PPO clipped surrogate with a per-token ratio pi(y_t) / pi_old(y_t): [N, T] -> scalar."""
    log_ratio = _on_response(logprobs - batch.old_logprobs, batch.response_mask)  # [N, T]
    return _clipped_surrogate(log_ratio, logprobs, batch, advantages, cfg, entropy)


@LOSSES.register("gspo")
def gspo(
    logprobs: Tensor, batch: RolloutBatch, advantages: Tensor, cfg: AlgoSection, entropy: Tensor | None = None
) -> LossOutput:
    """GSPO: the clipped surrogate with the sequence ratio s_i = exp(mean_t log(pi/pi_old)).

    Written token-wise as s_i = sg[s_i] * pi(y_t) / sg[pi(y_t)] (GSPO-token): the value
    is the sequence ratio on every token, and the gradient is s_i * grad log pi(y_t),
    so per-token advantages still work and equal advantages give plain GSPO.
    """
    mask = batch.response_mask  # [N, T]
    token_log_ratio = _on_response(logprobs - batch.old_logprobs, mask)  # [N, T]
    seq_log_ratio = masked_mean(token_log_ratio, mask, dim=1)  # [N]
    lp = _on_response(logprobs, mask)  # [N, T]
    log_ratio = seq_log_ratio.detach()[:, None] + lp - lp.detach()  # [N, T], value = seq ratio
    return _clipped_surrogate(log_ratio, logprobs, batch, advantages, cfg, entropy)


def value_loss(values: Tensor, batch: RolloutBatch, returns: Tensor, cfg: AlgoSection) -> LossOutput:
    """PPO's clipped value loss, already multiplied by ``cfg.value_coef``: [N, T] -> scalar.

    0.5 * max((V - R)^2, (V_clip - R)^2) with V_clip = V_old + clamp(V - V_old, +-value_clip),
    so one update cannot move the critic far from the values the advantages were
    computed with. ``batch.values`` holds V_old; rows with an unverifiable outcome are
    left out, as in `gae`.
    """
    if batch.values is None:
        raise ValueError("value_loss needs batch.values (the critic's values at rollout time), got None")
    mask = (batch.response_mask > 0) & (batch.outcome_mask > 0)[:, None]  # [N, T]
    values = _on_response(values, mask)  # [N, T]
    old = _on_response(batch.values, mask).detach()  # [N, T]
    target = _on_response(returns, mask).detach()  # [N, T]
    clipped = old + (values - old).clamp(-cfg.value_clip, cfg.value_clip)  # [N, T]
    loss_plain = (values - target) ** 2  # [N, T]
    loss_clip = (clipped - target) ** 2  # [N, T]
    per_token = 0.5 * torch.maximum(loss_plain, loss_clip)  # [N, T]
    vf = aggregate(per_token, mask, cfg.agg, cfg.norm_constant)
    with torch.no_grad():
        metrics = {
            "value_loss": float(vf.detach()),
            "value_clip_frac": float(masked_mean((loss_clip > loss_plain).float(), mask)),
            "value_mean": float(masked_mean(values.detach(), mask)),
        }
    return LossOutput(loss=cfg.value_coef * vf, metrics=metrics)
