"""Policy/value losses: aggregation length behaviour, clip boundaries, dual clip, GSPO, TIS, KL, entropy."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.algos import LOSSES, aggregate, value_loss
from rlhf.algos.losses import tis_weights
from rlhf.config.recipe import AlgoSection


def _token_grads(mode: str, mask: list[list[float]], norm_constant: float | None = None) -> torch.Tensor:
    """d aggregate / d x: the weight each token's loss gets."""
    m = torch.tensor(mask, dtype=torch.float32)
    x = torch.zeros_like(m, requires_grad=True)
    aggregate(x, m, mode, norm_constant).backward()
    return x.grad


SHORT_LONG = [[1, 0, 0, 0], [1, 1, 1, 0]]  # lengths 1 and 3


def test_token_mean_weighs_long_sequences_more():
    g = _token_grads("token-mean", SHORT_LONG)
    assert g.tolist() == [pytest.approx([0.25, 0, 0, 0]), pytest.approx([0.25, 0.25, 0.25, 0])]
    assert g[1].sum() == pytest.approx(3 * g[0].sum())  # the long sequence carries 3/4 of the weight


def test_seq_mean_token_mean_weighs_sequences_equally():
    g = _token_grads("seq-mean-token-mean", SHORT_LONG)
    # each sequence 1/2 in total; the long one's tokens 1/6 each
    assert g.tolist() == [pytest.approx([0.5, 0, 0, 0]), pytest.approx([1 / 6, 1 / 6, 1 / 6, 0])]
    assert g[0].sum() == pytest.approx(g[1].sum())


def test_seq_mean_token_sum():
    g = _token_grads("seq-mean-token-sum", SHORT_LONG)
    # every token 1/N = 1/2, so a sequence's weight grows with its length
    assert g.tolist() == [pytest.approx([0.5, 0, 0, 0]), pytest.approx([0.5, 0.5, 0.5, 0])]


def test_constant_normaliser_independent_of_length():
    g1 = _token_grads("constant", SHORT_LONG, norm_constant=8.0)
    g2 = _token_grads("constant", [[1, 1, 1, 1], [1, 0, 0, 0]], norm_constant=8.0)
    # 1 / (N * C) = 1/16 per token, whatever the lengths
    assert torch.all(g1[torch.tensor(SHORT_LONG) > 0] == 1 / 16)
    assert torch.all(g2[torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]]) > 0] == 1 / 16)
    # token-mean's per-token weight does change with the other sequences' lengths
    t1 = _token_grads("token-mean", SHORT_LONG)[0, 0]
    t2 = _token_grads("token-mean", [[1, 0, 0, 0], [1, 1, 1, 1]])[0, 0]
    assert t1 != t2
    # default constant is the padded width T
    assert _token_grads("constant", SHORT_LONG)[0, 0] == pytest.approx(1 / (2 * 4))


def test_aggregate_values_and_empty_rows():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    m = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert aggregate(x, m, "token-mean") == pytest.approx(10 / 4)
    assert aggregate(x, m, "seq-mean-token-mean") == pytest.approx(
        (2 + 4) / 2
    )  # the empty row is not a sequence
    assert aggregate(x, m, "seq-mean-token-sum") == pytest.approx((6 + 4) / 2)
    assert aggregate(x, m, "constant", 5.0) == pytest.approx(10 / (3 * 5))
    with pytest.raises(ValueError, match="algo.agg"):
        aggregate(x, m, "sum")


def _one_token(make_batch, ratio: float, adv: float, cfg: AlgoSection, loss: str = "ppo_clip"):
    """A single response token with pi/pi_old = ratio; returns (loss output, d loss / d logprob)."""
    batch = make_batch([[1]], [0], [1.0], old_logprobs=[[-1.0]])
    logprobs = torch.tensor([[-1.0 + math.log(ratio)]], requires_grad=True)
    out = LOSSES.get(loss)(logprobs, batch, torch.tensor([[adv]]), cfg)
    out.loss.backward()
    return out, float(logprobs.grad[0, 0])


@pytest.mark.parametrize(
    "ratio, adv, clipped",
    [
        (1.19, 1.0, False),  # inside, A > 0
        (1.21, 1.0, True),  # above 1 + clip_high with A > 0: no more push up
        (1.21, -1.0, False),  # above, but A < 0: the pessimistic bound keeps the gradient
        (0.81, -1.0, False),
        (0.79, -1.0, True),  # below 1 - clip_low with A < 0
        (0.79, 1.0, False),
    ],
)
def test_ppo_clip_boundaries(make_batch, ratio, adv, clipped):
    out, grad = _one_token(make_batch, ratio, adv, AlgoSection(clip_low=0.2, clip_high=0.2))
    if clipped:
        assert grad == 0.0
        assert out.metrics["clip_frac"] == 1.0
        assert out.loss.item() == pytest.approx(-adv * (1.2 if ratio > 1 else 0.8))
    else:
        assert grad == pytest.approx(-adv * ratio)  # d(-A r)/d log pi = -A r
        assert out.metrics["clip_frac"] == 0.0
        assert out.loss.item() == pytest.approx(-adv * ratio)


def test_ppo_clip_exactly_at_boundary_keeps_gradient(make_batch):
    out, grad = _one_token(make_batch, 1.2, 1.0, AlgoSection(clip_low=0.2, clip_high=0.2))
    assert out.loss.item() == pytest.approx(-1.2, rel=1e-5)
    assert out.metrics["clip_frac"] == 0.0  # a ratio of exactly 1.2 (up to rounding) is not past the bound


def test_clip_higher_is_asymmetric(make_batch):
    cfg = AlgoSection(clip_low=0.2, clip_high=0.28)  # DAPO
    _, grad = _one_token(make_batch, 1.25, 1.0, cfg)
    assert grad == pytest.approx(-1.25)  # would be clipped with a symmetric 0.2
    _, grad = _one_token(make_batch, 1.3, 1.0, cfg)
    assert grad == 0.0
    out, grad = _one_token(make_batch, 0.75, -1.0, cfg)  # the low side is still 0.2
    assert grad == 0.0 and out.metrics["clip_frac_low"] == 1.0 and out.metrics["clip_frac_high"] == 0.0


def test_dual_clip(make_batch):
    cfg = AlgoSection(dual_clip=3.0)
    # A = -1, ratio 5: PPO's loss is max(5, -(-1)*1.2) = 5, unbounded in the ratio; dual clip caps it at 3
    out, grad = _one_token(make_batch, 5.0, -1.0, cfg)
    assert out.loss.item() == pytest.approx(3.0)
    assert grad == 0.0 and out.metrics["dual_clip_frac"] == 1.0
    out_plain, grad_plain = _one_token(make_batch, 5.0, -1.0, AlgoSection())
    assert out_plain.loss.item() == pytest.approx(5.0) and grad_plain == pytest.approx(5.0)
    # below the cap nothing changes; positive advantages are never dual-clipped
    out, grad = _one_token(make_batch, 2.0, -1.0, cfg)
    assert out.loss.item() == pytest.approx(2.0) and grad == pytest.approx(2.0)
    out, _ = _one_token(make_batch, 5.0, 1.0, cfg)
    assert out.loss.item() == pytest.approx(-1.2) and out.metrics["dual_clip_frac"] == 0.0


def test_gspo_uses_the_sequence_ratio(make_batch):
    # one sequence of 3 tokens with token log-ratios (0.3, -0.1, -0.05): mean 0.05 -> s = exp(0.05)
    old = [[-1.0, -2.0, -3.0, 0.0]]
    batch = make_batch([[1, 1, 1, 0]], [0], [1.0], old_logprobs=old)
    lr = torch.tensor([[0.3, -0.1, -0.05, 7.0]])  # the padded 7.0 must not count
    logprobs = (torch.tensor(old) + lr).requires_grad_(True)
    adv = torch.full((1, 4), 2.0)
    cfg = AlgoSection(clip_low=0.2, clip_high=0.2, agg="seq-mean-token-mean")
    out = LOSSES.get("gspo")(logprobs, batch, adv, cfg)
    out.loss.backward()
    s = math.exp(0.05)
    assert out.metrics["ratio_mean"] == pytest.approx(s, rel=1e-6)
    assert out.loss.item() == pytest.approx(-2.0 * s, rel=1e-6)  # the sequence-level objective -A * s
    # gradient: s * grad log pi(y_t), each token 1/L of the sequence
    assert logprobs.grad[0].tolist() == pytest.approx([-2.0 * s / 3] * 3 + [0.0], rel=1e-6)
    # the per-token loss clips the 0.3 token (ratio 1.35); the sequence ratio 1.05 is inside
    tok = LOSSES.get("ppo_clip")(logprobs.detach(), batch, adv, cfg)
    assert tok.metrics["clip_frac"] == pytest.approx(1 / 3)
    assert out.metrics["clip_frac"] == 0.0


def test_gspo_clips_whole_sequences(make_batch):
    batch = make_batch([[1, 1], [1, 1]], [0, 0], [1.0, 0.0], old_logprobs=[[0.0, 0.0], [0.0, 0.0]])
    # row 0 mean log-ratio 0.5 -> s = 1.65 > 1 + 4e-4; row 1 mean 0 -> s = 1
    logprobs = torch.tensor([[0.6, 0.4], [0.2, -0.2]], requires_grad=True)
    adv = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    out = LOSSES.get("gspo")(logprobs, batch, adv, AlgoSection(clip_low=3e-4, clip_high=4e-4))
    out.loss.backward()
    assert out.metrics["clip_frac"] == pytest.approx(0.5)
    assert logprobs.grad[0].tolist() == [0.0, 0.0]
    assert torch.all(logprobs.grad[1] != 0)


def test_kl_loss_term(make_batch):
    old = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.5]])
    batch = make_batch([[1, 1, 1]], [0], [1.0], old_logprobs=old, ref_logprobs=ref)
    adv = torch.tensor([[1.0, 1.0, 1.0]])
    base = LOSSES.get("ppo_clip")(old, batch, adv, AlgoSection()).loss.item()
    with_kl = LOSSES.get("ppo_clip")(old, batch, adv, AlgoSection(kl_coef=0.1, kl_estimator="k3"))
    d = (ref - old)[0]  # log r
    k3 = (d.exp() - 1 - d).mean().item()
    assert with_kl.loss.item() == pytest.approx(base + 0.1 * k3, rel=1e-6)
    assert with_kl.metrics["kl_ref"] == pytest.approx(k3, rel=1e-6)
    # folded into the reward: no loss term here
    folded = LOSSES.get("ppo_clip")(
        old, batch, adv, AlgoSection(kl_coef=0.1, kl_in_reward=True, advantage="gae")
    )
    assert folded.loss.item() == pytest.approx(base)
    no_ref = make_batch([[1, 1, 1]], [0], [1.0], old_logprobs=old)
    with pytest.raises(ValueError, match="kl_coef"):
        LOSSES.get("ppo_clip")(old, no_ref, adv, AlgoSection(kl_coef=0.1))


def test_entropy_bonus(make_batch):
    batch = make_batch([[1, 1, 0]], [0], [1.0])
    lp = torch.zeros(1, 3)
    adv = torch.ones(1, 3)
    ent = torch.tensor([[2.0, 1.0, 50.0]])  # 50 sits on padding
    base = LOSSES.get("ppo_clip")(lp, batch, adv, AlgoSection()).loss.item()
    out = LOSSES.get("ppo_clip")(lp, batch, adv, AlgoSection(entropy_coef=0.01), entropy=ent)
    assert out.loss.item() == pytest.approx(base - 0.01 * 1.5)
    assert out.metrics["entropy"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="entropy_coef"):
        LOSSES.get("ppo_clip")(lp, batch, adv, AlgoSection(entropy_coef=0.01))


def test_truncated_importance_sampling(make_batch):
    # old/sampler ratios: exp(0.1) = 1.105 and exp(1.0) = 2.718 -> capped at 2
    batch = make_batch([[1, 1]], [0], [1.0], old_logprobs=[[-1.0, -1.0]], sampler_logprobs=[[-1.1, -2.0]])
    lp = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    out = LOSSES.get("ppo_clip")(lp, batch, torch.ones(1, 2), AlgoSection(tis_cap=2.0))
    out.loss.backward()
    w = [math.exp(0.1), 2.0]
    assert out.loss.item() == pytest.approx(-(w[0] + w[1]) / 2, rel=1e-6)
    assert lp.grad[0].tolist() == pytest.approx([-w[0] / 2, -w[1] / 2], rel=1e-6)
    assert out.metrics["tis_capped_frac"] == 0.5
    assert out.metrics["is_ratio_mean"] == pytest.approx((math.exp(0.1) + math.exp(1.0)) / 2, rel=1e-6)
    assert out.metrics["is_ratio_max"] == pytest.approx(math.exp(1.0), rel=1e-6)
    assert out.metrics["is_clipped_frac"] == 0.5
    # off without a cap, and off without sampler logprobs
    off = LOSSES.get("ppo_clip")(lp.detach(), batch, torch.ones(1, 2), AlgoSection())
    assert off.loss.item() == pytest.approx(-1.0) and "tis_weight_mean" not in off.metrics


def test_metrics_present_and_ratio_stats(make_batch):
    batch = make_batch([[1, 1, 1, 0]], [0], [1.0], old_logprobs=[[0.0, 0.0, 0.0, 0.0]])
    lp = torch.log(torch.tensor([[0.5, 1.0, 2.0, 100.0]]))
    out = LOSSES.get("ppo_clip")(lp, batch, torch.ones(1, 4), AlgoSection(), entropy=torch.ones(1, 4))
    m = out.metrics
    assert {"pg_loss", "clip_frac", "approx_kl", "entropy", "ratio_mean", "ratio_min", "ratio_max"} <= set(m)
    assert m["ratio_min"] == pytest.approx(0.5) and m["ratio_max"] == pytest.approx(2.0)
    assert m["ratio_mean"] == pytest.approx(3.5 / 3)
    # approx KL(old || new) by k3 on log-ratios (log .5, 0, log 2)
    k3 = sum(r - 1 - math.log(r) for r in (0.5, 1.0, 2.0)) / 3
    assert m["approx_kl"] == pytest.approx(k3, rel=1e-5)
    assert all(isinstance(v, float) for v in m.values())


def test_value_loss_clipped(make_batch):
    # V_old 0, return 1, clip 0.2
    batch = make_batch([[1, 1, 1, 0]], [0], [1.0], values=[[0.0, 0.0, 0.0, 0.0]])
    v = torch.tensor([[0.5, 0.1, -0.5, 3.0]], requires_grad=True)
    ret = torch.ones(1, 4)
    out = value_loss(v, batch, ret, AlgoSection(value_clip=0.2, value_coef=1.0))
    out.loss.backward()
    # 0.5: clipped to 0.2 -> max(.25, .64) = .64 (clipped branch: no gradient)
    # 0.1: inside -> .81;  -0.5: clipped to -0.2 -> max(2.25, 1.44) = 2.25 (plain branch)
    assert out.loss.item() == pytest.approx(0.5 * (0.64 + 0.81 + 2.25) / 3)
    assert v.grad[0].tolist() == pytest.approx([0.0, (0.1 - 1) / 3, (-0.5 - 1) / 3, 0.0])
    assert out.metrics["value_clip_frac"] == pytest.approx(1 / 3)
    half = value_loss(v.detach(), batch, ret, AlgoSection(value_clip=0.2, value_coef=0.5))
    assert half.loss.item() == pytest.approx(0.5 * out.loss.item())


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "constant"])
@pytest.mark.parametrize("loss_name", ["ppo_clip", "gspo"])
def test_microbatches_add_up_to_the_full_batch(make_batch, mode, loss_name):
    from rlhf.algos import microbatch_scale

    g = torch.Generator().manual_seed(3)
    mask = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 0]]
    batch = make_batch(
        mask,
        [0, 0, 1, 1, 1],
        [1.0, 0.0, 1.0, 0.0, 1.0],
        old_logprobs=-torch.rand(5, 5, generator=g),
        ref_logprobs=-torch.rand(5, 5, generator=g),
    )
    lp = (batch.old_logprobs + 0.3 * torch.randn(5, 5, generator=g)).requires_grad_(True)
    adv = torch.randn(5, 5, generator=g)
    cfg = AlgoSection(agg=mode, kl_coef=0.1)
    full = LOSSES.get(loss_name)(lp, batch, adv, cfg).loss
    (full_grad,) = torch.autograd.grad(full, lp)
    total = torch.zeros(())
    for rows in (torch.tensor([0, 1]), torch.tensor([2, 3, 4])):
        micro = batch.select(rows)
        scale = microbatch_scale(micro.response_mask, batch.response_mask, mode)
        total = total + scale * LOSSES.get(loss_name)(lp[rows], micro, adv[rows], cfg).loss
    (acc_grad,) = torch.autograd.grad(total, lp)
    assert total.item() == pytest.approx(full.item(), rel=1e-5)
    assert torch.allclose(acc_grad, full_grad, atol=1e-6)
    # without the scale, token-mean over micro-batches is not the batch's token-mean
    if mode == "token-mean":
        naive = (
            sum(
                LOSSES.get(loss_name)(lp[r], batch.select(r), adv[r], cfg).loss
                for r in (torch.tensor([0, 1]), torch.tensor([2, 3, 4]))
            )
            / 2
        )
        assert naive.item() != pytest.approx(full.item(), rel=1e-3)


@pytest.mark.parametrize("loss_name", ["ppo_clip", "gspo"])
def test_nonfinite_padding_gives_finite_loss_and_gradients(make_batch, loss_name):
    nan, inf = float("nan"), float("inf")
    batch = make_batch(
        [[1, 1, 0]],
        [0],
        [1.0],
        old_logprobs=[[-1.0, -1.0, -inf]],
        ref_logprobs=[[-1.2, -0.8, nan]],
        sampler_logprobs=[[-1.1, -0.9, nan]],
        values=[[0.1, 0.2, nan]],
    )
    lp = torch.tensor([[-0.9, -1.1, -inf]], requires_grad=True)
    adv = torch.tensor([[1.0, 1.0, nan]])
    cfg = AlgoSection(kl_coef=0.1, tis_cap=2.0, dual_clip=3.0)
    out = LOSSES.get(loss_name)(lp, batch, adv, cfg, entropy=torch.tensor([[1.0, 1.0, nan]]))
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(lp.grad).all() and lp.grad[0, 2] == 0
    assert all(math.isfinite(v) for v in out.metrics.values())
    v = torch.tensor([[0.3, 0.1, nan]], requires_grad=True)
    vl = value_loss(v, batch, torch.tensor([[1.0, 1.0, nan]]), cfg)
    vl.loss.backward()
    assert torch.isfinite(vl.loss) and torch.isfinite(v.grad).all()


def test_masked_importance_sampling_drops_tokens_above_the_cap(make_batch):
    # ratios exp(0.1) = 1.105 (kept as is) and exp(1.0) = 2.718 > 2 (masked: weight 0, no gradient)
    batch = make_batch([[1, 1]], [0], [1.0], old_logprobs=[[-1.0, -1.0]], sampler_logprobs=[[-1.1, -2.0]])
    lp = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    out = LOSSES.get("ppo_clip")(lp, batch, torch.ones(1, 2), AlgoSection(tis_cap=2.0, tis_mode="mask"))
    out.loss.backward()
    assert out.loss.item() == pytest.approx(-math.exp(0.1) / 2, rel=1e-6)
    assert lp.grad[0].tolist() == pytest.approx([-math.exp(0.1) / 2, 0.0], rel=1e-6)
    assert out.metrics["is_clipped_frac"] == 0.5
    assert out.metrics["tis_weight_mean"] == pytest.approx(math.exp(0.1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="tis_mode"):
        tis_weights(batch, 2.0, "clip")
