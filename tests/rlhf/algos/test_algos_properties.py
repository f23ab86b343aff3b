"""Invariances the estimators must have, on random batches (and on CUDA when there is one)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_algos_reference import SEEDS, random_batch  # noqa: E402  (same directory)

from rlhf.algos import ADVANTAGES, LOSSES
from rlhf.config.recipe import AlgoSection

OUTCOME_LEVEL = ("grpo", "dr_grpo", "rloo")


@pytest.mark.parametrize("name", OUTCOME_LEVEL)
def test_group_relative_advantages_sum_to_zero_per_group(name):
    for seed in SEEDS:
        b = random_batch(seed)
        per_row = ADVANTAGES.get(name)(b, AlgoSection(scale_std=False))[
            torch.arange(b.num_rollouts), b.response_mask.argmax(dim=1)
        ]
        for g in b.group_index.unique():
            assert per_row[b.group_index == g].sum().abs() < 1e-5


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce_pp_baseline"])
def test_shifting_every_outcome_changes_nothing(name):
    for seed in SEEDS:
        b = random_batch(seed)
        last = b.response_mask.shape[1] - 1 - b.response_mask.flip(1).argmax(dim=1)
        shifted_tok = b.token_rewards.clone()
        shifted_tok[torch.arange(b.num_rollouts), last] += 3.0 * b.outcome_mask
        shifted = dataclasses.replace(b, outcome_rewards=b.outcome_rewards + 3.0, token_rewards=shifted_tok)
        cfg = AlgoSection()
        assert torch.allclose(ADVANTAGES.get(name)(b, cfg), ADVANTAGES.get(name)(shifted, cfg), atol=1e-4)


def test_process_grpo_invariant_to_affine_step_scores():
    for seed in SEEDS:
        b = random_batch(seed)
        moved = dataclasses.replace(b, step_rewards=b.step_rewards * 4.0 - 1.0)
        cfg = AlgoSection(adv_eps=0.0)
        assert torch.allclose(
            ADVANTAGES.get("process_grpo")(b, cfg), ADVANTAGES.get("process_grpo")(moved, cfg), atol=1e-4
        )


@pytest.mark.parametrize("name", sorted(ADVANTAGES.names()))
def test_row_permutation_permutes_advantages(name):
    for seed in SEEDS:
        b = random_batch(seed)
        perm = torch.randperm(b.num_rollouts, generator=torch.Generator().manual_seed(seed))
        cfg = AlgoSection()
        assert torch.allclose(
            ADVANTAGES.get(name)(b, cfg)[perm], ADVANTAGES.get(name)(b.select(perm), cfg), atol=1e-5
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    for seed in SEEDS:
        b = random_batch(seed)
        gb = b.to("cuda")
        for name in ADVANTAGES.names():
            cfg = AlgoSection()
            cpu_adv = ADVANTAGES.get(name)(b, cfg)
            gpu_adv = ADVANTAGES.get(name)(gb, cfg)
            assert gpu_adv.device.type == "cuda"
            assert torch.allclose(cpu_adv, gpu_adv.cpu(), atol=1e-4), name
            for loss in LOSSES.names():
                lcfg = AlgoSection(kl_coef=0.1, tis_cap=2.0, dual_clip=3.0)
                c = LOSSES.get(loss)(b.old_logprobs + 0.1, b, cpu_adv, lcfg).loss
                g = LOSSES.get(loss)(gb.old_logprobs + 0.1, gb, gpu_adv, lcfg).loss
                assert c.item() == pytest.approx(g.item(), rel=1e-4, abs=1e-5), (name, loss)
