"""Answer scorers shared by `cotrl eval --metric` and `sft.eval_metric`."""

from __future__ import annotations

import pytest

from rewards.math.verify import MathAnswerReward
from rewards.types import Problem
from rlhf.eval.scoring import FORMAT_RE, ExactMatch, answers_match, format_rate, make_scorer


def _p(answer: str) -> Problem:
    return Problem(id="x", task="t", prompt="q", answer=answer)


def test_answers_match_numbers_by_value():
    assert (
        answers_match("104.5", "104.50") and answers_match(" 1,000 ", "1000") and answers_match("1/2", "0.5")
    )
    assert not answers_match("104.51", "104.50") and not answers_match("abc", "abd")
    assert answers_match("Paris", " Paris ")


def test_format_regex_accepts_only_the_full_shape():
    assert FORMAT_RE.match("<think>\nAdd: 1 + 2 = 3\n</think>\n<answer>3</answer>")
    assert not FORMAT_RE.match("<think>\nAdd: 1 + 2 = 3\n<answer>3</answer>")
    assert not FORMAT_RE.match("<think>x</think><answer>3</answer> trailing")
    assert format_rate(["<think>a</think><answer>1</answer>", "1"]) == 0.5


def test_exact_match_reads_the_last_answer_span_else_the_whole_text():
    scorer = make_scorer("exact_match")
    assert isinstance(scorer, ExactMatch)
    problems = [_p("7"), _p("7"), _p("Paris is big"), _p("7")]
    texts = [
        "<answer>3</answer> <answer> 7.0 </answer>",
        "<answer>7</answer><answer>8</answer>",
        "Paris  is big",
        "",
    ]
    assert scorer(problems, texts) == [1.0, 0.0, 1.0, 0.0]


def test_registered_rewards_resolve_and_unknown_names_list_exact_match():
    assert isinstance(make_scorer("math_answer"), MathAnswerReward)
    with pytest.raises(ValueError, match=r"unknown reward 'no_such'.*math_answer.*\(or 'exact_match'\)"):
        make_scorer("no_such")
