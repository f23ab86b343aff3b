"""Hand-computed advantages for every estimator; arithmetic written out in comments."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.algos import ADVANTAGES, gae_advantages_returns, zero_variance_groups
from rlhf.config.recipe import AlgoSection

S3 = math.sqrt(3.0)
S03 = math.sqrt(0.3)

# Two groups of four; completion tokens are columns 1..2 (column 0 is prompt, 3 padding).
MASK = [[0, 1, 1, 0]] * 8
GROUPS = [0, 0, 0, 0, 1, 1, 1, 1]
OUTCOMES = [1, 0, 1, 0, 1, None, 0, 0]  # row 5 unverifiable


def _rows(adv: torch.Tensor) -> list[float]:
    """Per-row advantage, after checking it is constant on the response and 0 elsewhere."""
    assert torch.all(adv[:, 0] == 0) and torch.all(adv[:, 3] == 0)
    assert torch.allclose(adv[:, 1], adv[:, 2])
    return adv[:, 1].tolist()


def test_grpo_std_scaled(make_batch):
    # group 0: mean 0.5, unbiased var = 4 * 0.25 / 3 = 1/3, so A = +-0.5 / sqrt(1/3) = +-sqrt(3)/2
    # group 1 (row 5 left out): values 1, 0, 0: mean 1/3, var = (4/9 + 1/9 + 1/9) / 2 = 1/3
    #   A = (2/3) * sqrt(3) = 2/sqrt(3) and (-1/3) * sqrt(3) = -1/sqrt(3); row 5 gets 0
    adv = ADVANTAGES.get("grpo")(make_batch(MASK, GROUPS, OUTCOMES), AlgoSection(adv_eps=0.0))
    expected = [S3 / 2, -S3 / 2, S3 / 2, -S3 / 2, 2 / S3, 0.0, -1 / S3, -1 / S3]
    assert _rows(adv) == pytest.approx(expected, abs=1e-6)


def test_grpo_without_std_and_dr_grpo(make_batch):
    # mean-centring only: group 0 +-0.5; group 1 1 - 1/3, 0 - 1/3
    expected = [0.5, -0.5, 0.5, -0.5, 2 / 3, 0.0, -1 / 3, -1 / 3]
    batch = make_batch(MASK, GROUPS, OUTCOMES)
    assert _rows(ADVANTAGES.get("grpo")(batch, AlgoSection(scale_std=False))) == pytest.approx(
        expected, abs=1e-6
    )
    # Dr.GRPO never divides by the std, whatever scale_std says
    assert _rows(ADVANTAGES.get("dr_grpo")(batch, AlgoSection(scale_std=True))) == pytest.approx(
        expected, abs=1e-6
    )


def test_rloo(make_batch):
    # group 0: a 1 sees others (0, 1, 0) -> 1 - 1/3 = 2/3; a 0 sees (1, 0, 1) -> 0 - 2/3
    # group 1 (K=3): the 1 sees (0, 0) -> 1; a 0 sees (1, 0) -> -0.5; row 5 -> 0
    adv = ADVANTAGES.get("rloo")(make_batch(MASK, GROUPS, OUTCOMES), AlgoSection())
    assert _rows(adv) == pytest.approx([2 / 3, -2 / 3, 2 / 3, -2 / 3, 1.0, 0.0, -0.5, -0.5], abs=1e-6)


def test_rloo_single_verifiable_sample_gets_zero(make_batch):
    adv = ADVANTAGES.get("rloo")(make_batch([[1, 1]] * 2, [0, 0], [1.0, None]), AlgoSection())
    assert torch.all(adv == 0)


def test_reinforce_pp(make_batch):
    # gamma 0.5. row 0 rewards (0.5, 0, 1): returns t2 = 1, t1 = 0 + 0.5*1 = 0.5, t0 = 0.5 + 0.5*0.5 = 0.75
    # row 1 rewards (0, 2, pad): returns t1 = 2, t0 = 0 + 0.5*2 = 1
    # whiten over the 5 tokens (0.75, 0.5, 1, 1, 2): mean 1.05,
    #   squared deviations .09 + .3025 + .0025 + .0025 + .9025 = 1.3, unbiased var 1.3/4 = 0.325
    batch = make_batch([[1, 1, 1], [1, 1, 0]], [0, 1], [1.0, 0.0], token_rewards=[[0.5, 0, 1], [0, 2, 0]])
    adv = ADVANTAGES.get("reinforce_pp")(batch, AlgoSection(gamma=0.5))
    std = math.sqrt(0.325)
    expected = [
        [(0.75 - 1.05) / std, (0.5 - 1.05) / std, (1 - 1.05) / std],
        [(1 - 1.05) / std, (2 - 1.05) / std, 0],
    ]
    assert adv.tolist() == [pytest.approx(r, abs=1e-5) for r in expected]


def test_reinforce_pp_baseline(make_batch):
    # one group, outcomes 1 and 0 -> baseline 0.5 subtracted at each row's last response token
    # row 0 rewards (0, 0, 1 - 0.5), row 1 (0, 0 - 0.5, pad); gamma 1 returns: (.5, .5, .5) and (-.5, -.5)
    # whiten: mean (1.5 - 1)/5 = 0.1, deviations .4 x3, -.6 x2, sq sum 1.2, unbiased var 0.3
    batch = make_batch([[1, 1, 1], [1, 1, 0]], [7, 7], [1.0, 0.0], token_rewards=[[0, 0, 1], [0, 0, 0]])
    adv = ADVANTAGES.get("reinforce_pp_baseline")(batch, AlgoSection(gamma=1.0))
    hi, lo = 0.4 / S03, -0.6 / S03
    assert adv.tolist() == [pytest.approx([hi, hi, hi], abs=1e-5), pytest.approx([lo, lo, 0.0], abs=1e-5)]


def test_gae_raw_and_returns(make_batch):
    # gamma 1, lambda 0.5; column 0 is prompt (its value 9 must be ignored), V after the end is 0
    # t3: delta = 1 + 0 - .7 = .3,  A = .3
    # t2: delta = 0 + .7 - .6 = .1, A = .1 + .5*.3 = .25
    # t1: delta = 0 + .6 - .5 = .1, A = .1 + .5*.25 = .225
    batch = make_batch([[0, 1, 1, 1]], [0], [1.0], token_rewards=[[0, 0, 0, 1]], values=[[9, 0.5, 0.6, 0.7]])
    res = gae_advantages_returns(batch, gamma=1.0, lam=0.5)
    assert res.advantages[0].tolist() == pytest.approx([0, 0.225, 0.25, 0.3], abs=1e-6)
    assert res.returns[0].tolist() == pytest.approx([0, 0.725, 0.85, 1.0], abs=1e-6)
    adv = ADVANTAGES.get("gae")(batch, AlgoSection(gamma=1.0, gae_lambda=0.5, gae_whiten=False))
    assert adv[0].tolist() == pytest.approx([0, 0.225, 0.25, 0.3], abs=1e-6)
    # whitened: mean .775/3, unbiased std over (.225, .25, .3)
    w = ADVANTAGES.get("gae")(batch, AlgoSection(gamma=1.0, gae_lambda=0.5))
    vals = [0.225, 0.25, 0.3]
    m = sum(vals) / 3
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / 2)
    assert w[0].tolist() == pytest.approx([0] + [(v - m) / sd for v in vals], abs=1e-4)


def test_gae_discount(make_batch):
    # gamma 0.5, lambda 1: A_t is the discounted return minus V_t
    # t2: 2 - 1 = 1; t1: delta = 0 + .5*1 - 1 = -.5, A = -.5 + .5*1 = 0; t0: delta = 0 + .5*1 - 1, A = -.5 + .5*0
    batch = make_batch([[1, 1, 1]], [0], [0.0], token_rewards=[[0, 0, 2]], values=[[1, 1, 1]])
    res = gae_advantages_returns(batch, gamma=0.5, lam=1.0)
    assert res.advantages[0].tolist() == pytest.approx([-0.5, 0.0, 1.0])


def test_gae_needs_values(make_batch):
    with pytest.raises(ValueError, match="batch.values"):
        ADVANTAGES.get("gae")(make_batch([[1]], [0], [1.0]), AlgoSection())


# Process-supervised GRPO, worked example.
# T = 7, column 0 is prompt. Group 0 has two completions:
#   A: tokens 1..6, steps end at 2, 4, 6 with scores 1, 0, 1
#   B: tokens 1..4 (5, 6 padding), steps end at 2 (score 1), 3 (unscored: None), 4 (score 0)
# Group 1 has one completion C: tokens 1..2, one step ending at 2 with score 5.
PROC_MASK = [[0, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 0, 0, 0]]
PROC_STEPS = [
    [None, None, 1, None, 0, None, 1],
    [None, None, 1, None, 0, None, None],
    [None, None, 5, None, None, None, None],
]
PROC_STEPS[1][3] = None  # the unscored step of B (kept explicit: it must not count)


def test_process_grpo_worked_example(make_batch):
    # Group 0's scored steps: 1, 0, 1 (A) and 1, 0 (B) -> mean 3/5 = 0.6
    #   deviations .4, -.6, .4, .4, -.6; squares sum .16*3 + .36*2 = 1.2; unbiased var 1.2/4 = 0.3
    #   normalised: a 1 -> .4/sqrt(.3) = 0.7303, a 0 -> -.6/sqrt(.3) = -1.0954
    # A's tokens sum the steps ending at or after them:
    #   t1, t2: .7303 - 1.0954 + .7303 = .2/sqrt(.3); t3, t4: -1.0954 + .7303 = -.2/sqrt(.3); t5, t6: .4/sqrt(.3)
    # B: t1, t2: .7303 - 1.0954 = -.2/sqrt(.3); t3, t4: -.6/sqrt(.3); padding 0
    # Group 1 has one step: std 0, its normalised reward 5 - 5 = 0, so C gets 0.
    batch = make_batch(PROC_MASK, [0, 0, 1], [1.0, 0.0, 1.0], step_rewards=PROC_STEPS)
    adv = ADVANTAGES.get("process_grpo")(batch, AlgoSection(adv_eps=0.0))
    p, q = 0.2 / S03, 0.4 / S03
    expected = [
        [0, p, p, -p, -p, q, q],
        [0, -p, -p, -0.6 / S03, -0.6 / S03, 0, 0],
        [0] * 7,
    ]
    assert adv.tolist() == [pytest.approx(r, abs=1e-5) for r in expected]


def test_process_grpo_without_std(make_batch):
    # scale_std off: normalised rewards are .4 and -.6; A's t1 = .4 - .6 + .4 = .2
    batch = make_batch(PROC_MASK, [0, 0, 1], [1.0, 0.0, 1.0], step_rewards=PROC_STEPS)
    adv = ADVANTAGES.get("process_grpo")(batch, AlgoSection(scale_std=False))
    assert adv[0].tolist() == pytest.approx([0, 0.2, 0.2, -0.2, -0.2, 0.4, 0.4], abs=1e-6)
    assert adv[1].tolist() == pytest.approx([0, -0.2, -0.2, -0.6, -0.6, 0, 0], abs=1e-6)


def test_process_grpo_needs_steps(make_batch):
    with pytest.raises(ValueError, match="step_rewards"):
        ADVANTAGES.get("process_grpo")(make_batch([[1]], [0], [1.0]), AlgoSection())


def test_mixed(make_batch):
    # outcome part: group 0 outcomes (1, 0): mean .5, unbiased std sqrt(.5) -> +-.5/sqrt(.5) = +-sqrt(.5);
    #   C is alone in group 1 -> 0. Weights: 2 * outcome + 0.5 * process (values from the worked example).
    batch = make_batch(PROC_MASK, [0, 0, 1], [1.0, 0.0, 1.0], step_rewards=PROC_STEPS)
    cfg = AlgoSection(adv_eps=0.0, outcome_weight=2.0, process_weight=0.5)
    adv = ADVANTAGES.get("mixed")(batch, cfg)
    o = math.sqrt(0.5)
    p, q = 0.2 / S03, 0.4 / S03
    assert adv[0].tolist() == pytest.approx([0] + [2 * o + 0.5 * v for v in (p, p, -p, -p, q, q)], abs=1e-5)
    b = [-p, -p, -0.6 / S03, -0.6 / S03]
    assert adv[1].tolist() == pytest.approx([0] + [-2 * o + 0.5 * v for v in b] + [0, 0], abs=1e-5)
    assert adv[2].tolist() == pytest.approx([0] * 7, abs=1e-6)


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "gae"])
def test_masked_outcome_excluded_from_group_stats(make_batch, name):
    """The reward value stored under a masked outcome must change nothing, and that row gets 0."""
    outs = [1.0, 0.0, 1.0, None, 0.0, 1.0]
    mask = [[1, 1, 1]] * 6
    tok = [[0, 0, 1], [0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 1]]
    vals = [[0.1, 0.2, 0.3]] * 6
    base = make_batch(mask, [0, 0, 0, 0, 1, 1], outs, token_rewards=tok, values=vals)
    poisoned = make_batch(mask, [0, 0, 0, 0, 1, 1], outs, token_rewards=tok, values=vals)
    poisoned.outcome_rewards[3] = 100.0  # what a careless "None -> number" would put there
    poisoned.token_rewards[3, 2] = 100.0
    cfg = AlgoSection()
    a, b = ADVANTAGES.get(name)(base, cfg), ADVANTAGES.get(name)(poisoned, cfg)
    assert torch.allclose(a, b)
    assert torch.all(a[3] == 0)
    assert a.abs().sum() > 0


def test_masked_outcome_does_not_count_as_zero(make_batch):
    # group (1, None, 0): scoring None as 0 would make the mean 1/3; excluded it is 1/2
    adv = ADVANTAGES.get("grpo")(
        make_batch([[1]] * 3, [0, 0, 0], [1.0, None, 0.0]), AlgoSection(scale_std=False)
    )
    assert adv[:, 0].tolist() == pytest.approx([0.5, 0.0, -0.5])


def test_zero_variance_groups(make_batch):
    # g0 all right, g1 all wrong, g2 mixed, g3 nothing verifiable, g4 (1, None, 1) all right among the verifiable
    outs = [1, 1, 1, 0, 0, 1, 0, None, None, 1, None, 1]
    groups = [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    b = make_batch([[1]] * len(outs), groups, outs)
    zv = zero_variance_groups(b.outcome_rewards, b.outcome_mask, b.group_index)
    assert zv.num_groups == 4
    assert zv.num_rows == 10
    assert zv.rows.tolist() == [True] * 5 + [False, False] + [True] * 5
    # every flagged row indeed gets zero GRPO advantage
    adv = ADVANTAGES.get("grpo")(b, AlgoSection())
    assert torch.all(adv[zv.rows] == 0) and torch.all(adv[~zv.rows] != 0)


def test_advantages_zero_outside_response_for_left_padding(make_batch):
    # left-padded prompt region must stay 0 for every estimator
    mask = [[0, 0, 1, 1], [0, 1, 1, 1]]
    steps = [[None, None, 1, 0], [None, 1, None, 0]]
    b = make_batch(
        mask,
        [0, 0],
        [1.0, 0.0],
        token_rewards=[[0, 0, 0, 1], [0, 0, 0, 0]],
        step_rewards=steps,
        values=[[5, 5, 0.1, 0.2], [5, 0.3, 0.1, 0.2]],
    )
    for name in ADVANTAGES.names():
        adv = ADVANTAGES.get(name)(b, AlgoSection())
        assert adv[0, :2].abs().sum() == 0 and adv[1, 0] == 0, name
        assert adv.abs().sum() > 0, name
