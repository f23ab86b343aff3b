"""Which steps feed the answer (`rewards.steps.credit`) and the `rule` step reward's `credit` option."""

from __future__ import annotations

import pytest

from data_gen.generate import iter_items, make_config
from rewards.step_rewards import RuleStepReward
from rewards.steps.credit import feeds_answer, is_padded, padding_steps
from rewards.types import Problem, StepSpan

GOLD = [
    "Multiply: 7 - 1 * 7 - 8 * 8 = 7 - 7 - 8 * 8",
    "Multiply: 7 - 7 - 8 * 8 = 7 - 7 - 64",
    "Subtract: 7 - 7 - 64 = 0 - 64",
    "Subtract: 0 - 64 = -64",
    "<answer>-64</answer>",
]
PROBLEM = Problem(
    id="p",
    task="integer_arithmetic",
    prompt="Compute 7 - 1 * 7 - 8 * 8.",
    answer="-64",
    meta={"expression": "7 - 1 * 7 - 8 * 8", "step_check": "equal"},
)


def test_every_step_of_a_gold_chain_feeds_the_answer():
    assert feeds_answer(GOLD) == [True] * 5
    assert not is_padded(GOLD)


@pytest.mark.parametrize(
    "padded, idle",
    [
        (GOLD[:2] + ["Add: 1 + 1 = 2"] + GOLD[2:], [2]),  # trivially true side claim
        (GOLD[:2] + [GOLD[1]] + GOLD[2:], [1]),  # a repeated step: only one copy is the chain's
        (GOLD[:3] + ["Restate: 0 - 64 = 0 - 64"] + GOLD[3:], [3]),  # rewrites nothing
        (GOLD + ["Add: 2 + 2 = 4"], [5]),  # after the answer
    ],
)
def test_padding_is_found(padded, idle):
    assert padding_steps(padded) == idle
    assert is_padded(padded)


def test_spacing_and_brackets_do_not_break_the_chain():
    steps = ["Multiply: 2 + 3*4 = 2 + 12", "Add: (2 + 12) = 14", "<answer>14</answer>"]
    assert feeds_answer(steps) == [True, True, True]


def test_a_trace_cut_before_its_answer_is_credited_up_to_its_last_rewrite():
    assert feeds_answer(GOLD[:3]) == [True, True, True]
    assert feeds_answer(["no maths here"]) == [False]


def test_rule_credit_answer_chain_withholds_credit_from_padding_only():
    wrong = GOLD[:2] + ["Subtract: 7 - 7 - 64 = 1 - 64", "Subtract: 1 - 64 = -63", "<answer>-63</answer>"]
    padded = GOLD[:2] + ["Add: 1 + 1 = 2", GOLD[1]] + GOLD[2:]
    traces = [[StepSpan(0, 0, t) for t in s] for s in (GOLD, padded, wrong)]
    plain = RuleStepReward().score_steps([PROBLEM] * 3, traces)
    chain = RuleStepReward(credit="answer_chain").score_steps([PROBLEM] * 3, traces)
    assert plain[1] == [1.0] * 7  # today's verifier pays for every true claim
    assert chain[0] == plain[0] == [1.0] * 5
    assert chain[1] == [1.0, None, None, 1.0, 1.0, 1.0, 1.0]
    assert chain[2] == plain[2] == [1.0, 1.0, 0.0, 1.0, 0.0]  # wrong steps stay wrong
    assert RuleStepReward(credit="answer_chain", idle=0.0).score_steps([PROBLEM], traces[1:2])[0][1:3] == [
        0.0,
        0.0,
    ]


def test_rule_credit_is_validated():
    with pytest.raises(ValueError, match="credit"):
        RuleStepReward(credit="some")


def test_generated_chains_are_never_padding():
    cfg = make_config("integer_arithmetic", None, {"min_operands": 5, "max_operands": 6, "max_digits": 1})
    for item in iter_items(["integer_arithmetic"], 50, seed=3, configs={"integer_arithmetic": cfg}):
        steps = list(item["solution_steps"]) + [f"<answer>{item['answer']}</answer>"]
        assert feeds_answer(steps) == [True] * len(steps), steps


def test_a_broken_chain_is_a_mistake_not_padding_when_the_problem_is_known():
    broken = GOLD[:2] + ["Subtract: 7 - 8 - 64 = -1 - 64", "Subtract: -1 - 64 = -65", "<answer>-65</answer>"]
    assert padding_steps(broken) == [0, 1]  # off the answer's chain ...
    assert padding_steps(broken, PROBLEM.prompt) == []  # ... but they start from the problem
    padded = GOLD[:2] + ["Add: 1 + 1 = 2", GOLD[1]] + GOLD[2:]
    assert padding_steps(padded, PROBLEM.prompt) == [1, 2]  # the first copy and the side claim
    assert is_padded(padded, PROBLEM.prompt) and not is_padded(GOLD, PROBLEM.prompt)
