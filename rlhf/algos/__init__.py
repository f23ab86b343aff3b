"""RL algorithms as pure, registered tensor functions (no I/O, no state).

Two families, one signature each, chosen by name in the recipe's `algo:` section:
  ADVANTAGES  AdvantageFn(batch: RolloutBatch, cfg: AlgoSection) -> Tensor[N, T]
  LOSSES      LossFn(logprobs: Tensor[N, T], batch, advantages, cfg, entropy=None) -> LossOutput
A trainer calls ``ADVANTAGES.get(cfg.algo.advantage)(batch, cfg.algo)`` and
``LOSSES.get(cfg.algo.loss)(logprobs, batch, adv, cfg.algo)`` and never special-cases
an estimator: what one reads (outcomes, step scores, token rewards, critic values) is
its `EstimatorInfo`, ``ADVANTAGES.info(name)``. Helpers the loop also needs:
`fold_kl_into_rewards` (KL as reward), `reverse_cumsum` (discounted returns-to-go of token
rewards), `zero_variance_groups` (DAPO dynamic sampling), `gae_advantages_returns`,
`critic_returns` and `value_loss` (PPO critic), `microbatch_scale` (exact gradient
accumulation), and masked statistics (`stats`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Registration happens on import.
from rlhf.algos import advantages as _advantages  # noqa: E402
from rlhf.algos import losses as _losses  # noqa: E402
from rlhf.algos.advantages import (  # noqa: E402
    GaeResult,
    ZeroVariance,
    batch_holds,
    critic_returns,
    gae_advantages_returns,
    last_token_index,
    zero_variance_groups,
)
from rlhf.algos.kl import KL_ESTIMATORS, fold_kl_into_rewards, kl_penalty  # noqa: E402
from rlhf.algos.losses import (  # noqa: E402
    AGGREGATIONS,
    LossOutput,
    aggregate,
    microbatch_scale,
    tis_weights,
    value_loss,
)  # noqa: E402
from rlhf.algos.registry import ADVANTAGES, INPUTS, LOSSES, EstimatorInfo
from rlhf.algos.stats import (  # noqa: E402
    group_stats,
    masked_mean,
    masked_sum,
    masked_var,
    masked_whiten,
    reverse_cumsum,
)

if TYPE_CHECKING:
    from rlhf.config.recipe import AlgoSection


def validate_algo_names(cfg: AlgoSection | Any) -> None:
    """Check the names an `algo:` section picks before a run starts (ValueError naming the key).

    Whether the estimator suits the trainer and the rewards is `rlhf.trainers.checks`'s job.
    """
    for key, registry in (("advantage", ADVANTAGES), ("loss", LOSSES)):
        name = getattr(cfg, key)
        if ":" in name:  # user code: resolved (and checked) when the trainer starts
            continue
        try:
            registry.get(name)
        except ValueError as exc:
            raise ValueError(f"algo.{key}: {exc}") from None


__all__ = [
    "ADVANTAGES",
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "INPUTS",
    "LOSSES",
    "EstimatorInfo",
    "GaeResult",
    "LossOutput",
    "ZeroVariance",
    "aggregate",
    "batch_holds",
    "critic_returns",
    "fold_kl_into_rewards",
    "gae_advantages_returns",
    "group_stats",
    "kl_penalty",
    "last_token_index",
    "masked_mean",
    "masked_sum",
    "masked_var",
    "masked_whiten",
    "microbatch_scale",
    "reverse_cumsum",
    "tis_weights",
    "validate_algo_names",
    "zero_variance_groups",
    "value_loss",
]
del _advantages, _losses
