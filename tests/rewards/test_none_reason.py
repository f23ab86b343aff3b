"""A reward that is None for a whole batch says why: problems without answers, its verdicts, or (the
TRL adapter) a dataset without the answer column."""

from __future__ import annotations

import warnings

import pytest

from rewards.combine import none_reason
from rewards.registry import REWARDS
from rewards.trl import trl_reward
from rewards.types import Problem


def test_none_reason_names_problems_without_answers_and_the_verdicts():
    math = REWARDS.get("math_answer")()
    blank = [Problem(id=str(i), task="t", prompt="1+1?", answer="") for i in range(3)]
    texts = ["<answer>2</answer>"] * 3
    assert none_reason(blank, math(blank, texts), math) == (
        "none of the 3 problems has an answer to compare against (empty `answer`)"
    )
    good = [Problem(id="0", task="t", prompt="1+1?", answer="2")]
    assert none_reason(good, math(good, texts[:1]), math) is None


def test_the_trl_adapter_warns_when_the_dataset_has_no_answer_column():
    fn = trl_reward("math_answer")
    with pytest.warns(
        UserWarning, match=r"no 'answer' column \(TRL passes dataset columns by name; columns: id\)"
    ):
        scores = fn(prompts=["1+1?", "2+2?"], completions=["<answer>2</answer>"] * 2, id=["a", "b"])
    assert scores == [None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same reason is not repeated every batch
        fn(prompts=["1+1?"], completions=["<answer>2</answer>"], id=["a"])
        assert fn(prompts=["1+1?"], completions=["<answer>2</answer>"], answer=["2"]) == [1.0]
