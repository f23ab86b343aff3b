"""Vectorised estimators and losses vs slow, obviously-correct Python loops on random batches.

The references work on plain lists, one rollout and one token at a time, straight from
the definitions; random batches have left and right padding, several groups, unverifiable
outcomes, unscored steps and groups with a single countable value.
"""

from __future__ import annotations

import math
import random
import statistics

import pytest
import torch

from rlhf.algos import ADVANTAGES, LOSSES, zero_variance_groups
from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import AlgoSection

SEEDS = range(12)


def random_batch(seed: int) -> RolloutBatch:
    rng = random.Random(seed)
    n_groups, group_size, t = rng.randint(1, 4), rng.randint(1, 5), rng.randint(4, 12)
    n = n_groups * group_size
    mask = torch.zeros(n, t)
    step_r, step_m, tok_r = torch.zeros(n, t), torch.zeros(n, t), torch.zeros(n, t)
    outcome, omask = torch.zeros(n), torch.zeros(n)
    binary = rng.random() < 0.5
    group_ids = [rng.randint(0, 50) for _ in range(n_groups)]  # arbitrary, non-contiguous ids
    for i in range(n):
        start = rng.randint(0, t - 2)
        end = rng.randint(start + 1, t)  # response is [start, end)
        mask[i, start:end] = 1
        for pos in range(start, end):
            if rng.random() < 0.35 or pos == end - 1:
                if rng.random() < 0.8:
                    score = float(rng.randint(0, 1)) if binary else rng.uniform(-1, 1)
                    step_r[i, pos], step_m[i, pos] = score, 1.0
                    tok_r[i, pos] += score
        if rng.random() < 0.8:
            outcome[i] = float(rng.randint(0, 1)) if binary else rng.uniform(-2, 2)
            omask[i] = 1.0
            tok_r[i, end - 1] += outcome[i]
        else:
            outcome[i] = rng.uniform(50, 100)  # garbage under the mask: must never be read
    gen = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        input_ids=torch.zeros(n, t, dtype=torch.long),
        attention_mask=torch.ones(n, t, dtype=torch.long),
        response_mask=mask,
        old_logprobs=-torch.rand(n, t, generator=gen) * 2,
        token_rewards=tok_r,
        group_index=torch.tensor([group_ids[i // group_size] for i in range(n)]),
        outcome_rewards=outcome,
        outcome_mask=omask,
        step_rewards=step_r,
        step_mask=step_m,
        ref_logprobs=-torch.rand(n, t, generator=gen) * 2,
        values=torch.randn(n, t, generator=gen),
        sampler_logprobs=-torch.rand(n, t, generator=gen) * 2,
    )


# ----------------------------------------------------------------------------- references


def _lists(batch: RolloutBatch):
    return (
        batch.response_mask.tolist(),
        batch.group_index.tolist(),
        batch.outcome_rewards.tolist(),
        [m > 0 for m in batch.outcome_mask.tolist()],
    )


def _std(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _per_row_to_tokens(per_row: list[float], mask: list[list[float]]) -> list[list[float]]:
    return [[a if m else 0.0 for m in row] for a, row in zip(per_row, mask)]


def ref_outcome(batch: RolloutBatch, kind: str, eps: float) -> list[list[float]]:
    mask, groups, r, valid = _lists(batch)
    out = []
    for i in range(len(r)):
        if not valid[i]:
            out.append(0.0)
            continue
        mates = [r[j] for j in range(len(r)) if groups[j] == groups[i] and valid[j]]
        mean = sum(mates) / len(mates)
        if kind == "grpo":
            sd = _std(mates)
            out.append((r[i] - mean) / (sd + eps) if sd + eps > 0 else 0.0)
        elif kind == "center":
            out.append(r[i] - mean)
        elif kind == "rloo":
            others = [r[j] for j in range(len(r)) if j != i and groups[j] == groups[i] and valid[j]]
            out.append(r[i] - sum(others) / len(others) if others else 0.0)
    return _per_row_to_tokens(out, mask)


def _whiten(values: list[list[float]], keep: list[list[bool]]) -> list[list[float]]:
    flat = [v for row, kr in zip(values, keep) for v, k in zip(row, kr) if k]
    if not flat:
        return [[0.0] * len(row) for row in values]
    mean, sd = sum(flat) / len(flat), _std(flat)
    return [
        [(v - mean) / (sd + 1e-8) if k else 0.0 for v, k in zip(row, kr)] for row, kr in zip(values, keep)
    ]


def ref_reinforce(batch: RolloutBatch, gamma: float, baseline: bool) -> list[list[float]]:
    mask, groups, r, valid = _lists(batch)
    rewards = batch.token_rewards.tolist()
    keep = [[bool(m) and valid[i] for m in mask[i]] for i in range(len(mask))]
    returns = []
    for i, row in enumerate(rewards):
        row = list(row)
        if baseline:
            mates = [r[j] for j in range(len(r)) if groups[j] == groups[i] and valid[j]]
            last = max(t for t, m in enumerate(mask[i]) if m)
            row[last] -= sum(mates) / len(mates) if mates else 0.0
        positions = [t for t in range(len(row)) if keep[i][t]]
        ret_row = [0.0] * len(row)
        for k, t in enumerate(positions):
            ret_row[t] = sum(gamma ** (kk - k) * row[positions[kk]] for kk in range(k, len(positions)))
        returns.append(ret_row)
    return _whiten(returns, keep)


def ref_gae(batch: RolloutBatch, gamma: float, lam: float, whiten: bool) -> list[list[float]]:
    mask, _, _, valid = _lists(batch)
    rewards, values = batch.token_rewards.tolist(), batch.values.tolist()
    keep = [[bool(m) and valid[i] for m in mask[i]] for i in range(len(mask))]
    adv = []
    for i in range(len(mask)):
        positions = [t for t in range(len(mask[i])) if keep[i][t]]
        row = [0.0] * len(mask[i])
        for k, t in enumerate(positions):
            total = 0.0
            for kk in range(k, len(positions)):  # A_t = sum_l (gamma lam)^l delta_{t+l}
                v_next = values[i][positions[kk + 1]] if kk + 1 < len(positions) else 0.0
                delta = rewards[i][positions[kk]] + gamma * v_next - values[i][positions[kk]]
                total += (gamma * lam) ** (kk - k) * delta
            row[t] = total
        adv.append(row)
    return _whiten(adv, keep) if whiten else adv


def ref_process(batch: RolloutBatch, scale: bool, eps: float) -> list[list[float]]:
    mask, groups, _, _ = _lists(batch)
    sr, sm = batch.step_rewards.tolist(), batch.step_mask.tolist()
    n, t = len(mask), len(mask[0])
    steps = [[(p, sr[i][p]) for p in range(t) if sm[i][p] and mask[i][p]] for i in range(n)]
    out = []
    for i in range(n):
        pool = [s for j in range(n) if groups[j] == groups[i] for _, s in steps[j]]
        mean, sd = (sum(pool) / len(pool), _std(pool)) if pool else (0.0, 0.0)
        norm = []
        for p, s in steps[i]:
            if scale:
                norm.append((p, (s - mean) / (sd + eps) if sd + eps > 0 else 0.0))
            else:
                norm.append((p, s - mean))
        out.append([sum(v for p, v in norm if p >= tok) if mask[i][tok] else 0.0 for tok in range(t)])
    return out


def reference(name: str, batch: RolloutBatch, cfg: AlgoSection) -> list[list[float]]:
    if name == "grpo":
        return ref_outcome(batch, "grpo" if cfg.scale_std else "center", cfg.adv_eps)
    if name == "dr_grpo":
        return ref_outcome(batch, "center", 0.0)
    if name == "rloo":
        return ref_outcome(batch, "rloo", 0.0)
    if name in ("reinforce_pp", "reinforce_pp_baseline"):
        return ref_reinforce(batch, cfg.gamma, baseline=name.endswith("baseline"))
    if name == "gae":
        return ref_gae(batch, cfg.gamma, cfg.gae_lambda, cfg.gae_whiten)
    if name == "process_grpo":
        return ref_process(batch, cfg.scale_std, cfg.adv_eps)
    if name == "mixed":
        o, p = reference("grpo", batch, cfg), reference("process_grpo", batch, cfg)
        return [
            [cfg.outcome_weight * a + cfg.process_weight * b for a, b in zip(ra, rb)] for ra, rb in zip(o, p)
        ]
    raise AssertionError(f"no reference for {name}")


CONFIGS = [
    AlgoSection(),
    AlgoSection(scale_std=False, gamma=0.9, gae_lambda=0.7, gae_whiten=False),
    AlgoSection(adv_eps=1e-2, gamma=0.5, gae_lambda=1.0, outcome_weight=0.3, process_weight=2.0),
]


@pytest.mark.parametrize("name", sorted(ADVANTAGES.names()))
def test_estimator_matches_loop_reference(name):
    for seed in SEEDS:
        batch = random_batch(seed)
        for cfg in CONFIGS:
            got = ADVANTAGES.get(name)(batch, cfg)
            want = torch.tensor(reference(name, batch, cfg))
            assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (name, seed, cfg, got, want)


def test_zero_variance_matches_loop_reference():
    for seed in SEEDS:
        b = random_batch(seed)
        _, groups, r, valid = _lists(b)
        flat_groups = set()
        for g in set(groups):
            vals = [r[i] for i in range(len(r)) if groups[i] == g and valid[i]]
            if not vals or max(vals) - min(vals) <= 1e-6:
                flat_groups.add(g)
        zv = zero_variance_groups(b.outcome_rewards, b.outcome_mask, b.group_index)
        assert zv.rows.tolist() == [g in flat_groups for g in groups]
        assert zv.num_groups == len(flat_groups)


# ----------------------------------------------------------------------------- loss reference


def ref_policy_loss(
    name: str, batch: RolloutBatch, lp: list[list[float]], adv: list[list[float]], cfg: AlgoSection
):
    mask, old = batch.response_mask.tolist(), batch.old_logprobs.tolist()
    sampler, ref = batch.sampler_logprobs.tolist(), batch.ref_logprobs.tolist()
    n, t = len(mask), len(mask[0])
    per_tok = [[0.0] * t for _ in range(n)]
    kl = [[0.0] * t for _ in range(n)]
    for i in range(n):
        toks = [k for k in range(t) if mask[i][k]]
        seq_lr = sum(lp[i][k] - old[i][k] for k in toks) / max(len(toks), 1)
        for k in toks:
            ratio = math.exp(seq_lr if name == "gspo" else lp[i][k] - old[i][k])
            a = adv[i][k]
            clipped = min(max(ratio, 1 - cfg.clip_low), 1 + cfg.clip_high)
            loss = max(-a * ratio, -a * clipped)
            if cfg.dual_clip is not None and a < 0:
                loss = min(loss, -a * cfg.dual_clip)
            if cfg.tis_cap is not None:
                w = math.exp(old[i][k] - sampler[i][k])
                if cfg.tis_mode == "mask":
                    loss *= w if w <= cfg.tis_cap else 0.0
                else:
                    loss *= min(w, cfg.tis_cap)
            per_tok[i][k] = loss
            d = ref[i][k] - lp[i][k]
            kl[i][k] = math.exp(d) - 1 - d

    def agg(x):
        rows = [[x[i][k] for k in range(t) if mask[i][k]] for i in range(n)]
        nonempty = [r for r in rows if r]
        if cfg.agg == "token-mean":
            return sum(map(sum, rows)) / sum(map(len, rows))
        if cfg.agg == "seq-mean-token-mean":
            return sum(sum(r) / len(r) for r in nonempty) / len(nonempty)
        if cfg.agg == "seq-mean-token-sum":
            return sum(sum(r) for r in nonempty) / len(nonempty)
        return sum(map(sum, rows)) / (n * (cfg.norm_constant or t))

    return agg(per_tok) + cfg.kl_coef * agg(kl)


LOSS_CONFIGS = [
    AlgoSection(),
    AlgoSection(clip_high=0.28, agg="seq-mean-token-mean", kl_coef=0.05),
    AlgoSection(dual_clip=2.0, agg="seq-mean-token-sum", tis_cap=1.5),
    AlgoSection(agg="seq-mean-token-mean", tis_cap=1.2, tis_mode="mask"),
    AlgoSection(agg="constant", norm_constant=16.0, clip_low=0.1, clip_high=0.1, kl_coef=0.1, tis_cap=3.0),
    AlgoSection(agg="constant", dual_clip=1.5, clip_low=3e-4, clip_high=4e-4),
]


@pytest.mark.parametrize("name", sorted(LOSSES.names()))
def test_loss_matches_loop_reference(name):
    for seed in SEEDS:
        batch = random_batch(seed)
        gen = torch.Generator().manual_seed(100 + seed)
        lp = batch.old_logprobs + 0.4 * torch.randn(batch.old_logprobs.shape, generator=gen)
        adv = torch.randn(lp.shape, generator=gen) * batch.response_mask
        for cfg in LOSS_CONFIGS:
            got = LOSSES.get(name)(lp, batch, adv, cfg).loss.item()
            want = ref_policy_loss(name, batch, lp.tolist(), adv.tolist(), cfg)
            assert got == pytest.approx(want, rel=1e-4, abs=1e-5), (name, seed, cfg)
