"""Scored rollouts -> the padded `RolloutBatch` the algorithm functions see.

Rows are prompt + completion, right-padded, so real tokens sit at positions 0..len-1 and
no position ids are needed. Rewards go on the token grid: each step's score at the step's
last token, the outcome at the completion's last token. Unverifiable (None) rewards are
left out of the masks, never written as 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rewards.types import Rollout
from rlhf.algos.types import RolloutBatch


def build_batch(rollouts: Sequence[Rollout], pad_id: int) -> RolloutBatch:
    n = len(rollouts)
    if n == 0:
        raise ValueError("build_batch needs at least one rollout")
    width = max(len(r.prompt_ids) + len(r.completion_ids) for r in rollouts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    response = torch.zeros((n, width))
    sampler_lp = torch.zeros((n, width))
    step_rewards = torch.zeros((n, width))
    step_mask = torch.zeros((n, width))
    outcome = torch.zeros(n)
    outcome_mask = torch.zeros(n)
    group_index = torch.tensor([r.group for r in rollouts], dtype=torch.long)
    for i, r in enumerate(rollouts):
        p, c = len(r.prompt_ids), len(r.completion_ids)
        if c == 0:
            raise ValueError(f"rollout {i} of problem {r.problem_id!r} has an empty completion")
        input_ids[i, : p + c] = torch.tensor(list(r.prompt_ids) + list(r.completion_ids))
        attention[i, : p + c] = 1
        response[i, p : p + c] = 1.0
        sampler_lp[i, p : p + c] = torch.tensor(r.sampler_logprobs, dtype=torch.float32)
        for span in r.steps:
            if span.score is None or span.end <= span.start:
                continue
            last = p + min(span.end, c) - 1
            step_rewards[i, last] += float(span.score)
            step_mask[i, last] = 1.0
        if r.outcome is not None:
            outcome[i] = float(r.outcome)
            outcome_mask[i] = 1.0
    last_token = attention.sum(1) - 1  # [N]
    token_rewards = step_rewards.clone()
    token_rewards[torch.arange(n), last_token] += outcome * outcome_mask
    has_steps = any(r.steps for r in rollouts)
    return RolloutBatch(
        input_ids=input_ids,
        attention_mask=attention,
        response_mask=response,
        old_logprobs=sampler_lp.clone(),
        token_rewards=token_rewards,
        group_index=group_index,
        outcome_rewards=outcome,
        outcome_mask=outcome_mask,
        step_rewards=step_rewards if has_steps else None,
        step_mask=step_mask if has_steps else None,
        sampler_logprobs=sampler_lp,
    )
