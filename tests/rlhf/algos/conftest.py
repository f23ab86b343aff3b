"""A builder for small RolloutBatches written out by hand in the tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from rlhf.algos.types import RolloutBatch


def build_batch(
    response_mask: Sequence[Sequence[float]],
    group_index: Sequence[int],
    outcomes: Sequence[float | None] | None = None,
    token_rewards: Sequence[Sequence[float]] | None = None,
    step_rewards: Sequence[Sequence[float | None]] | None = None,
    old_logprobs: Sequence[Sequence[float]] | torch.Tensor | None = None,
    ref_logprobs: Sequence[Sequence[float]] | torch.Tensor | None = None,
    values: Sequence[Sequence[float]] | torch.Tensor | None = None,
    sampler_logprobs: Sequence[Sequence[float]] | torch.Tensor | None = None,
) -> RolloutBatch:
    """`outcomes` uses None for an unverifiable outcome; `step_rewards` uses None for
    "no scored step here" (0 with step_mask 0)."""
    mask = torch.as_tensor(response_mask, dtype=torch.float32)
    n, t = mask.shape
    outs = list(outcomes) if outcomes is not None else [None] * n
    outcome_mask = torch.tensor([0.0 if o is None else 1.0 for o in outs])
    outcome_rewards = torch.tensor([0.0 if o is None else float(o) for o in outs])
    srew = smask = None
    if step_rewards is not None:
        smask = torch.tensor([[0.0 if v is None else 1.0 for v in row] for row in step_rewards])
        srew = torch.tensor([[0.0 if v is None else float(v) for v in row] for row in step_rewards])

    def _t(x):
        return None if x is None else torch.as_tensor(x, dtype=torch.float32)

    return RolloutBatch(
        input_ids=torch.zeros(n, t, dtype=torch.long),
        attention_mask=torch.ones(n, t, dtype=torch.long),
        response_mask=mask,
        old_logprobs=_t(old_logprobs) if old_logprobs is not None else torch.zeros(n, t),
        token_rewards=_t(token_rewards) if token_rewards is not None else torch.zeros(n, t),
        group_index=torch.as_tensor(group_index, dtype=torch.long),
        outcome_rewards=outcome_rewards,
        outcome_mask=outcome_mask,
        step_rewards=srew,
        step_mask=smask,
        ref_logprobs=_t(ref_logprobs),
        values=_t(values),
        sampler_logprobs=_t(sampler_logprobs),
    )


@pytest.fixture
def make_batch():
    return build_batch
