"""KL estimators against their formulas and the exact KL; KL folded into rewards; registries; recipe."""

from __future__ import annotations

import pytest
import torch

from rlhf.algos import ADVANTAGES, LOSSES, LossOutput, fold_kl_into_rewards, kl_penalty
from rlhf.algos.stats import masked_mean, masked_var, masked_whiten, reverse_cumsum
from rlhf.config.loader import ConfigError, from_dict
from rlhf.config.recipe import AlgoSection, RunConfig
from rlhf.trainers.checks import check_recipe


def test_kl_estimators_match_formulas():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(5, 7, generator=g) * 3
    ref = -torch.rand(5, 7, generator=g) * 3
    assert torch.allclose(kl_penalty(logp, ref, "k1"), logp - ref)
    assert torch.allclose(kl_penalty(logp, ref, "k2"), 0.5 * (logp - ref) ** 2)
    r = torch.exp(ref - logp)
    assert torch.allclose(kl_penalty(logp, ref, "k3"), r - 1 - torch.log(r), atol=1e-6)
    assert torch.all(kl_penalty(logp, ref, "k3") >= 0) and torch.all(kl_penalty(logp, ref, "k2") >= 0)
    with pytest.raises(ValueError, match="kl_estimator"):
        kl_penalty(logp, ref, "k4")


def test_k1_and_k3_are_unbiased_for_the_exact_kl():
    # tokens sampled from p: E[k1] = E[k3] = KL(p || q); k2 is biased (only second-order close)
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    q = torch.tensor([0.25, 0.25, 0.25, 0.25])
    exact = float((p * (p / q).log()).sum())
    g = torch.Generator().manual_seed(1)
    y = torch.multinomial(p, 400_000, replacement=True, generator=g)
    logp, logq = p.log()[y], q.log()[y]
    for name in ("k1", "k3"):
        assert float(kl_penalty(logp, logq, name).mean()) == pytest.approx(exact, rel=0.02), name
    assert float(kl_penalty(logp, logq, "k3").var()) < float(kl_penalty(logp, logq, "k1").var())


def test_kl_clamped_against_overflow():
    out = kl_penalty(torch.tensor([0.0]), torch.tensor([500.0]), "k3")
    assert torch.isfinite(out).all()


def test_fold_kl_into_rewards_and_returns(make_batch):
    # k1 per token = old - ref = (0.2, -0.1, 0.3) on the response; coef 0.5 subtracts (0.1, -0.05, 0.15)
    batch = make_batch(
        [[0, 1, 1, 1]],
        [0],
        [1.0],
        token_rewards=[[0, 0, 0, 1]],
        old_logprobs=[[-9.0, -1.0, -1.0, -1.0]],
        ref_logprobs=[[0.0, -1.2, -0.9, -1.3]],
    )
    cfg = AlgoSection(kl_coef=0.5, kl_estimator="k1", kl_in_reward=True, advantage="reinforce_pp")
    folded, kl = fold_kl_into_rewards(batch, cfg)
    assert kl[0].tolist() == pytest.approx([0.0, 0.2, -0.1, 0.3])  # the prompt column (0 - -9) is left out
    assert folded.token_rewards[0].tolist() == pytest.approx([0.0, -0.1, 0.05, 1 - 0.15])
    assert batch.token_rewards[0, 1] == 0  # the input batch is not modified
    # returns-to-go (gamma 1): t3 .85, t2 .9, t1 .8
    assert reverse_cumsum(folded.token_rewards, folded.response_mask)[0].tolist() == pytest.approx(
        [0, 0.8, 0.9, 0.85]
    )
    with pytest.raises(ValueError, match="ref_logprobs"):
        fold_kl_into_rewards(make_batch([[1]], [0], [1.0]), cfg)


def test_masked_stats():
    x = torch.tensor([1.0, 2.0, 3.0, float("nan")])
    m = torch.tensor([1, 1, 1, 0])
    assert masked_mean(x, m).item() == pytest.approx(2.0)
    assert masked_var(x, m).item() == pytest.approx(1.0)
    assert masked_var(x, m, unbiased=False).item() == pytest.approx(2 / 3)
    w = masked_whiten(x, m)
    assert w.tolist()[:3] == pytest.approx([-1.0, 0.0, 1.0], abs=1e-6) and w[3] == 0
    assert masked_mean(x, torch.zeros(4)).item() == 0.0  # nothing counted: 0, not NaN
    assert masked_var(torch.tensor([5.0]), torch.tensor([1])).item() == 0.0


def test_every_registered_name_resolves_and_runs(make_batch):
    assert set(ADVANTAGES.names()) == {
        "grpo",
        "dr_grpo",
        "rloo",
        "reinforce_pp",
        "reinforce_pp_baseline",
        "gae",
        "process_grpo",
        "mixed",
    }
    assert set(LOSSES.names()) == {"ppo_clip", "gspo"}
    g = torch.Generator().manual_seed(0)
    batch = make_batch(
        [[0, 1, 1, 1], [0, 1, 1, 0], [0, 1, 1, 1], [0, 1, 0, 0]],
        [0, 0, 1, 1],
        [1.0, 0.0, 0.5, 1.0],
        token_rewards=[[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0.5], [0, 1, 0, 0]],
        step_rewards=[[None, None, 1, 0], [None, 0, 1, None], [None, 1, None, 1], [None, 0, None, None]],
        values=torch.rand(4, 4, generator=g),
        old_logprobs=-torch.rand(4, 4, generator=g),
    )
    for name in ADVANTAGES.names():
        adv = ADVANTAGES.get(name)(batch, AlgoSection(advantage=name))
        assert adv.shape == (4, 4) and torch.isfinite(adv).all(), name
        assert torch.all(adv[batch.response_mask == 0] == 0), name
        for loss_name in LOSSES.names():
            lp = (batch.old_logprobs + 0.1 * torch.randn(4, 4, generator=g)).requires_grad_(True)
            out = LOSSES.get(loss_name)(lp, batch, adv, AlgoSection(advantage=name, loss=loss_name))
            assert isinstance(out, LossOutput) and out.loss.dim() == 0 and torch.isfinite(out.loss), loss_name
            out.loss.backward()
            assert lp.grad is not None and torch.all(lp.grad[batch.response_mask == 0] == 0)


def test_recipe_algo_section():
    cfg = from_dict(RunConfig, {"trainer": "grpo", "algo": {"advantage": "process_grpo", "clip_high": 0.28}})
    assert cfg.algo.advantage == "process_grpo" and cfg.algo.clip_high == 0.28
    assert RunConfig(trainer="grpo").algo == AlgoSection()
    with pytest.raises(ConfigError, match=r"algo.advantage.*did you mean 'grpo'"):
        check_recipe(from_dict(RunConfig, {"trainer": "grpo", "algo": {"advantage": "grp"}}))
    with pytest.raises(ConfigError, match="algo.loss"):
        check_recipe(from_dict(RunConfig, {"trainer": "grpo", "algo": {"loss": "ppo"}}))
    with pytest.raises(ConfigError, match="algo.dual_clip"):
        from_dict(RunConfig, {"trainer": "grpo", "algo": {"dual_clip": 0.5}})
    with pytest.raises(ConfigError, match="algo.clip_low"):
        from_dict(RunConfig, {"trainer": "grpo", "algo": {"clip_low": 1.5}})
    with pytest.raises(ConfigError, match="algo.kl_in_reward"):
        check_recipe(
            from_dict(RunConfig, {"trainer": "grpo", "algo": {"kl_in_reward": True, "advantage": "grpo"}})
        )
    with pytest.raises(ConfigError, match="algo.agg"):
        from_dict(RunConfig, {"trainer": "grpo", "algo": {"agg": "mean"}})
    # user code by path is accepted without import at config time
    assert check_recipe(
        from_dict(RunConfig, {"trainer": "grpo", "algo": {"advantage": "mypkg.adv:fn"}})
    ).algo.advantage
