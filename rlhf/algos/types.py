"""`RolloutBatch`: the padded tensors every advantage estimator and loss reads.

Outcome and step rewards travel through the same token-level tensor (`token_rewards`),
so every advantage estimator has one signature. `rlhf.data.batch.build_batch` packs
`rewards.types.Rollout`s into one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class RolloutBatch:
    """Padded tensors the algorithms see. Shapes: N rollouts, T = prompt + completion tokens.

    `token_rewards` carries a step's score at the step's last token and the outcome at
    the completion's last token (token-level estimators: reinforce_pp, gae). A None
    reward is absent, never 0: `outcome_mask` [N] marks verifiable outcomes (outcome-level
    estimators: grpo, rloo) and `step_mask` [N, T] marks step-final tokens holding a
    score (process_grpo). Which estimator reads what: `rlhf.algos.ADVANTAGES.info(name)`.
    """

    input_ids: Tensor  # [N, T] long
    attention_mask: Tensor  # [N, T] long
    response_mask: Tensor  # [N, T] float, 1 on completion tokens
    old_logprobs: Tensor  # [N, T] float, logprob of input_ids[t] under the policy that sampled it
    token_rewards: Tensor  # [N, T] float
    group_index: Tensor  # [N] long
    outcome_rewards: Tensor  # [N] float (0 where unverifiable)
    outcome_mask: Tensor  # [N] float, 1 where the outcome is verifiable
    step_rewards: Tensor | None = None  # [N, T] float, step scores at step-final tokens
    step_mask: Tensor | None = None  # [N, T] float, 1 at step-final tokens with a score
    ref_logprobs: Tensor | None = None  # [N, T]
    values: Tensor | None = None  # [N, T] critic values (PPO)
    sampler_logprobs: Tensor | None = None  # [N, T] the rollout engine's own logprobs

    @property
    def num_rollouts(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> RolloutBatch:
        moved = {
            name: (value.to(device) if isinstance(value, Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return RolloutBatch(**moved)

    def select(self, index: Tensor) -> RolloutBatch:
        """Rows `index` of every tensor (for micro-batching)."""
        picked = {
            name: (value[index] if isinstance(value, Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return RolloutBatch(**picked)
