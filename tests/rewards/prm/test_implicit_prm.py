"""The implicit PRM (`implicit_prm`, PRIME style): step rewards are beta * the summed token
log-ratio of an online-trained reward model against its frozen start, trained on outcome labels
only; its state round-trips so a resumed run continues with the same reward model."""

from __future__ import annotations

import pytest
import torch

from rewards.prm.implicit import ImplicitPRMStepReward, loss_weights
from rewards.registry import STEP_REWARDS
from rewards.types import Problem, Rollout, StepSpan


def _rollout(pid: str, prompt: list[int], completion: list[int], spans: list[tuple[int, int]], outcome):
    steps = tuple(StepSpan(a, b, f"s{a}") for a, b in spans)
    return Rollout(
        pid, 0, tuple(prompt), tuple(completion), (0.0,) * len(completion), "x", "stop", outcome, steps
    )


def _batch():
    """Three completions of different lengths (so right padding is exercised), one unverifiable."""
    a = _rollout("a", [5, 6, 7], [10, 11, 12, 13, 14, 15], [(0, 3), (3, 6)], 1.0)
    b = _rollout("b", [5, 6], [20, 21, 22, 23], [(0, 2), (2, 4)], 0.0)
    c = _rollout("c", [8, 9, 10, 11], [30, 31], [(0, 2), (2, 2)], None)
    d = _rollout(
        "d", [5], [40, 41, 42, 43, 44, 45, 46], [(1, 3), (4, 5)], 0.0
    )  # tokens between and after steps
    rs = [a, b, c, d]
    return [Problem(id=r.problem_id, task="arith", prompt="p", answer="1") for r in rs], rs


def _direct_logprobs(model, r: Rollout) -> torch.Tensor:
    """log p of each completion token from one unpadded forward pass."""
    ids = torch.tensor([list(r.prompt_ids) + list(r.completion_ids)])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    tgt = ids[0, 1:]
    return lp.gather(-1, tgt[:, None]).squeeze(-1)[len(r.prompt_ids) - 1 :]


def test_registered_and_zero_before_any_update(tiny_model_dir):
    reward = STEP_REWARDS.get("implicit_prm")(path=str(tiny_model_dir))
    problems, rollouts = _batch()
    scores = reward.score_rollouts(problems, rollouts)
    assert scores[0] == [0.0, 0.0] and scores[1] == [0.0, 0.0]  # pi_phi == pi_ref: log-ratio 0
    assert scores[2][1] is None  # an empty span has no tokens to score
    assert scores[3] == [0.0, 0.0]


def test_step_score_is_beta_times_the_spans_log_ratio(tiny_model_dir):
    """Batched, right-padded scoring equals one unpadded forward per completion, span by span."""
    reward = ImplicitPRMStepReward(path=str(tiny_model_dir), beta=0.5)
    with torch.no_grad():
        for p in reward.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    problems, rollouts = _batch()
    scores = reward.score_rollouts(problems, rollouts)
    for r, row in zip(rollouts, scores):
        ratio = _direct_logprobs(reward.model, r) - _direct_logprobs(reward.ref, r)
        ends = [s.end for s in r.steps[:-1]] + [len(r.completion_ids)]  # the last step takes the tail
        starts = [0] + ends[:-1]
        want = [
            float(0.5 * ratio[lo:hi].sum()) if s.end > s.start and hi > lo else None
            for s, lo, hi in zip(r.steps, starts, ends)
        ]
        assert row == pytest.approx(want, abs=1e-4)
        if all(x is not None for x in row):  # every token's reward reaches a step
            assert sum(row) == pytest.approx(float(0.5 * ratio.sum()), abs=1e-4)
    assert any(abs(x) > 1e-3 for row in scores for x in row if x is not None)


def test_updates_move_each_completions_reward_towards_its_outcome_label(tiny_model_dir):
    reward = ImplicitPRMStepReward(path=str(tiny_model_dir), beta=0.5, lr=3e-3)
    problems, rollouts = _batch()
    before = [sum(x for x in row if x is not None) for row in reward.score_rollouts(problems, rollouts)]
    stats = []
    for _ in range(5):
        reward.score_rollouts(problems, rollouts)
        stats.append(reward.update(rollouts))
    after = [sum(x for x in row if x is not None) for row in reward.score_rollouts(problems, rollouts)]
    assert after[0] > before[0] + 0.1  # labelled right: its implicit reward r(y) rises
    assert after[1] < before[1] - 0.1  # labelled wrong: it falls
    assert stats[-1]["loss"] < stats[0]["loss"] and stats[-1]["updates"] == 5.0
    assert stats[-1]["label_accuracy"] == 1.0  # sign(r(y)) now matches both labels
    assert reward.ref.training is False and not any(p.requires_grad for p in reward.ref.parameters())


def test_unverifiable_outcomes_and_update_false_train_nothing(tiny_model_dir):
    problems, rollouts = _batch()
    for reward, batch in (
        (ImplicitPRMStepReward(path=str(tiny_model_dir), lr=1e-2), [rollouts[2]]),  # outcome None
        (ImplicitPRMStepReward(path=str(tiny_model_dir), lr=1e-2, update=False), rollouts),
    ):
        start = {k: v.clone() for k, v in reward.model.state_dict().items()}
        assert reward.update(batch) == {}
        assert all(torch.equal(start[k], v) for k, v in reward.model.state_dict().items())


def test_state_round_trip_continues_exactly(tiny_model_dir):
    """A reward model restored from `state_dict()` scores and updates bit for bit as the original."""
    problems, rollouts = _batch()
    a = ImplicitPRMStepReward(path=str(tiny_model_dir), lr=1e-2)
    a.score_rollouts(problems, rollouts)
    a.update(rollouts)
    b = ImplicitPRMStepReward(path=str(tiny_model_dir), lr=1e-2)
    b.load_state_dict(a.state_dict())
    assert b.updates == 1
    for r in (a, b):
        r.score_rollouts(problems, rollouts)
        r.update(rollouts)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.score_rollouts(problems, rollouts) == b.score_rollouts(problems, rollouts)


def test_bad_settings_and_step_text_use_are_refused(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="needs params.path"):
        ImplicitPRMStepReward(path="")
    with pytest.raises(ValueError, match="not a model directory"):
        ImplicitPRMStepReward(path=str(tmp_path))
    assert (
        ImplicitPRMStepReward(path=str(tiny_model_dir), lr="5e-5").optimizer.defaults["lr"] == 5e-5
    )  # YAML 1.1
    with pytest.raises(ValueError, match="must be numbers"):
        ImplicitPRMStepReward(path=str(tiny_model_dir), lr="fast")
    with pytest.raises(ValueError, match="beta must be > 0"):
        ImplicitPRMStepReward(path=str(tiny_model_dir), beta=0.0)
    reward = ImplicitPRMStepReward(path=str(tiny_model_dir))
    with pytest.raises(ValueError, match="inside a GRPO/PPO"):
        reward.score_steps([Problem(id="a", task="arith", prompt="p", answer="1")], [[StepSpan(0, 1, "x")]])


def test_balanced_loss_gives_each_label_half_the_weight():
    labels = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert loss_weights(labels, False).tolist() == [0.25] * 4
    assert loss_weights(labels, True).tolist() == pytest.approx([0.5, 0.5 / 3, 0.5 / 3, 0.5 / 3])
    assert loss_weights(torch.zeros(3), True).tolist() == pytest.approx([1 / 3] * 3)  # one label: the mean
