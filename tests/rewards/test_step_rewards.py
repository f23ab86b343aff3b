"""The StepReward interface: rule, user function, aggregation, registry resolution; bad input never raises."""

from __future__ import annotations

import pytest

from rewards.registry import REWARDS, STEP_REWARDS
from rewards.step_rewards import AGGREGATIONS, aggregate
from rewards.types import Problem, StepSpan

P = Problem.from_dict(
    {"id": "a", "task": "integer_arithmetic", "prompt": "Compute 12 + 7 * 3.", "answer": "33"}
)


def spans(*texts):
    return [StepSpan(i, i + 1, t) for i, t in enumerate(texts)]


def my_step_fn(problem, steps, bonus=0.0):
    return [min(1.0, len(s) / 10 + bonus) if "=" in s else None for s in steps]


def broken_fn(problem, steps):
    raise RuntimeError("user bug")


def test_every_registered_step_reward_resolves():
    assert {"rule", "prm", "function"} <= set(STEP_REWARDS.names())
    for name in STEP_REWARDS.names():
        assert callable(STEP_REWARDS.get(name))
    assert callable(REWARDS.get("step_aggregate"))


def test_rule_step_reward_scores():
    reward = STEP_REWARDS.get("rule")()
    out = reward.score_steps(
        [P, P], [spans("Multiply: 12 + 7 * 3 = 12 + 21", "Add: 12 + 21 = 34", "hmm"), spans("2x + 3 = 11")]
    )
    assert out == [[1.0, 0.0, None], [None]]
    custom = STEP_REWARDS.get("rule")(correct=1.0, incorrect=-1.0, unverifiable=0.0)
    assert custom.score_steps([P], [spans("7 * 3 = 22", "words")]) == [[-1.0, 0.0]]


def test_rule_reward_survives_any_input():
    reward = STEP_REWARDS.get("rule")()
    weird = spans("", "=" * 1000, "9^9^9^9^9 = 1", "\x00", "(" * 500 + "1" + ")" * 500 + " = 1")
    out = reward.score_steps([P], [weird])
    assert len(out[0]) == len(weird)
    assert reward.score_steps([P], [[]]) == [[]]


def test_function_step_reward():
    reward = STEP_REWARDS.get("function")(fn="tests.rewards.test_step_rewards:my_step_fn", bonus=0.5)
    assert reward.score_steps([P], [spans("1 = 1", "no claim")]) == [[pytest.approx(1.0), None]]
    broken = STEP_REWARDS.get("function")(fn="tests.rewards.test_step_rewards:broken_fn")
    assert broken.score_steps([P], [spans("a", "b")]) == [[None, None]] and broken.errors == 1
    with pytest.raises(ValueError, match="params.fn"):
        STEP_REWARDS.get("function")()
    with pytest.raises(ValueError, match="no attribute"):
        STEP_REWARDS.get("function")(fn="tests.rewards.test_step_rewards:nope")


def test_aggregations():
    scores = [1.0, None, 0.5, 0.8]
    assert aggregate(scores, "min") == 0.5
    assert aggregate(scores, "product") == pytest.approx(0.4)
    assert aggregate(scores, "last") == 0.8
    assert aggregate(scores, "mean") == pytest.approx(2.3 / 3)
    assert all(aggregate([None, None], how) is None for how in AGGREGATIONS)
    with pytest.raises(ValueError, match="aggregate 'max'"):
        aggregate(scores, "max")


def test_step_aggregate_outcome_reward():
    reward = REWARDS.get("step_aggregate")(step="rule", aggregate="min")
    good = "<think>\nMultiply: 12 + 7 * 3 = 12 + 21\nAdd: 12 + 21 = 33\n</think>\n<answer>33</answer>"
    bad = "<think>\nMultiply: 12 + 7 * 3 = 12 + 22\nAdd: 12 + 22 = 34\n</think>\n<answer>34</answer>"
    assert reward([P, P, P], [good, bad, "no maths here"]) == [1.0, 0.0, None]
    mean = REWARDS.get("step_aggregate")(step="rule", aggregate="mean")
    assert mean([P], [bad]) == [pytest.approx(1 / 3)]  # wrong step, consistent step, wrong answer
    with pytest.raises(ValueError, match="aggregate"):
        REWARDS.get("step_aggregate")(aggregate="median")


def test_segment_completion_feeds_the_scorer(tiny_model_dir):
    from transformers import AutoTokenizer

    from rewards.steps.segment import segment_completion

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "<think>\nMultiply: 12 + 7 * 3 = 12 + 21\nAdd: 12 + 21 = 33\n</think>\n<answer>33</answer>"
    ids = tok.encode(text) + [tok.eos_token_id]
    got = segment_completion(text, ids, tok)
    assert len(got) == 3 and got[-1].end <= len(ids)
    scores = STEP_REWARDS.get("rule")().score_steps([P], [got])
    assert scores == [[1.0, 1.0, 1.0]]
    no_ids = segment_completion(text, [], None)
    assert [s.text for s in no_ids] == [s.text for s in got] and all(s.start == s.end == 0 for s in no_ids)
