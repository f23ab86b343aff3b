"""Format and shaping rewards, the weighted combination with None masking, the registry
and the TRL adapter's calling convention."""

from __future__ import annotations

import math
import pickle

import pytest

from rewards.combine import CombinedReward, RewardSpec, build_reward, from_config, from_run_config
from rewards.format import FormatReward, LengthPenalty, RepetitionPenalty, format_score
from rewards.registry import REWARDS
from rewards.trl import trl_reward, trl_reward_funcs
from rewards.types import Problem
from rlhf.config.loader import ConfigError, from_dict
from rlhf.config.recipe import RunConfig

GOLD = "<think>\nMultiply: 7 * 3 = 21\n</think>\n<answer>21</answer>"
P = Problem(id="1", task="arith", prompt="What is 7 * 3?", answer="21")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        (GOLD, 1.0),
        ("<think>x</think><answer>1</answer>", 1.0),
        ("<answer>21</answer>", 0.0),
        ("<think>a</think><think>b</think><answer>1</answer>", 0.0),
        ("<think>a</think><answer>1</answer> extra", 0.0),
        ("<think>a</think><answer> </answer>", 0.0),
        ("", 0.0),
        ("<answer>1</answer><think>a</think>", 0.0),
    ],
)
def test_format_score(text, score):
    assert format_score(text) == score


def test_format_partial_credit_never_reaches_one():
    assert format_score("<think>a</think> <answer>1</answer> trailing", partial=True) == pytest.approx(0.8)
    assert format_score("<think>a</think>", partial=True) == pytest.approx(0.4)
    assert FormatReward(partial=True)([P, P], [GOLD, "nothing"]) == [1.0, 0.0]


def test_overlong_penalty_is_soft_then_hard():
    lp = LengthPenalty(max_len=100, buffer=20)
    assert [lp.penalty(n) for n in (0, 80, 90, 100, 101)] == [0.0, 0.0, -0.5, -1.0, -1.0]
    assert LengthPenalty(max_len=10, mode="linear")([P, P], ["x" * 5, "x" * 50]) == [-0.5, -1.0]
    assert LengthPenalty(max_len=4, buffer=2, unit="words")([P], ["a b c"]) == [-0.5]
    with pytest.raises(ValueError, match="buffer"):
        LengthPenalty(max_len=10, buffer=11)


def test_repetition_penalty():
    rp = RepetitionPenalty(ngram=2, max_penalty=-1.0)
    assert rp.score("a b c d e") == 0.0
    assert rp.score("go go go go go go go go") < -0.8
    assert rp.score("too short") == 0.0 and rp.score("") == 0.0
    with pytest.raises(ValueError):
        RepetitionPenalty(max_penalty=0.5)


def test_every_registered_reward_resolves():
    for name in ("math_answer", "code_tests", "format", "length_penalty", "repetition_penalty"):
        assert name in REWARDS
        reward = REWARDS.get(name)()
        assert callable(reward) and reward.name == name
    with pytest.raises(ValueError, match="unknown reward"):
        REWARDS.get("math_answr")
    with pytest.raises(TypeError, match="bad params"):
        build_reward(RewardSpec("format", 1.0, {"nope": 1}))


class _Fixed:
    """A reward with fixed outputs (None included), to test the combination's arithmetic."""

    name = "fixed"

    def __init__(self, values=(1.0, None, 0.5)) -> None:
        self.values = list(values)

    def __call__(self, problems, completions):
        return self.values[: len(completions)]

    def statuses(self):
        return ["ok" if v is not None else "unverifiable" for v in self.values]


def test_combination_weights_masks_and_stats():
    specs = [RewardSpec("tests.rewards.test_format_combine:_Fixed", 2.0, {}), RewardSpec("format", 0.5, {})]
    comps = [GOLD, GOLD, "no format"]
    out = CombinedReward(specs).score([P, P, P], comps)
    assert out.totals == [2.5, None, 1.0]
    assert out.per_reward["format"] == [1.0, 1.0, 0.0]
    s = out.stats
    name = specs[0].name
    assert s[f"reward/{name}/none"] == 1.0 and s[f"reward/{name}/mean"] == pytest.approx(0.75)
    assert s[f"reward/{name}/status/unverifiable"] == 1.0 and s[f"reward/{name}/latency_s"] >= 0
    assert s["reward/total/none"] == 1.0 and s["reward/total/mean"] == pytest.approx(1.75)
    lenient = CombinedReward(specs, mask="all")([P, P, P], comps)
    assert lenient == [2.5, 0.5, 1.0]


def test_combination_validates():
    with pytest.raises(ValueError, match="at least one"):
        CombinedReward([])
    with pytest.raises(ValueError, match="more than once"):
        CombinedReward([RewardSpec("format"), RewardSpec("format")])
    with pytest.raises(ValueError, match="mask"):
        CombinedReward([RewardSpec("format")], mask="some")


def test_math_and_format_together_on_gold_completion():
    comb = from_config([{"name": "math_answer", "weight": 1.0}, {"name": "format", "weight": 0.2}])
    assert comb([P, P], [GOLD, "<answer>21</answer>"]) == [pytest.approx(1.2), pytest.approx(1.0)]
    assert comb.last_stats["reward/math_answer/status/correct"] == 2.0


def test_recipe_section_and_from_run_config():
    cfg = from_dict(
        RunConfig,
        {
            "trainer": "grpo",
            "rewards": [{"name": "format", "weight": 1.0}],
            "reward_options": {"mask": "all"},
        },
    )
    assert from_run_config(cfg).mask == "all"
    with pytest.raises(ConfigError, match="reward_options.mask"):
        from_dict(RunConfig, {"trainer": "grpo", "reward_options": {"mask": "sometimes"}})


def test_trl_adapter_follows_trl_calling_convention():
    fn = trl_reward("math_answer")
    assert fn.__name__ == "math_answer"
    logged = {}
    scores = fn(
        prompts=["What is 7 * 3?", "What is 2 + 2?"],
        completions=[GOLD, "<answer>5</answer>"],
        completion_ids=[[1], [2]],
        answer=["21", "4"],
        trainer_state=None,
        log_extra=lambda *a: None,
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert scores == [1.0, 0.0]
    assert logged["math_answer/unverifiable_frac"] == 0.0 and logged["math_answer/status/correct"] == 0.5
    chat = trl_reward("format")(
        prompts=[[{"role": "user", "content": "q"}]], completions=[[{"role": "assistant", "content": GOLD}]]
    )
    assert chat == [1.0]
    clone = pickle.loads(pickle.dumps(fn))
    assert clone(prompts=["q"], completions=[GOLD], answer=["21"]) == [1.0]


def test_trl_adapter_passes_code_columns():
    fn = trl_reward("code_tests", timeout_s=2)
    scores = fn(
        prompts=["write add"],
        completions=["<answer>def add(a, b):\n    return a + b</answer>"],
        tests=["assert add(2, 2) == 4\n"],
        entry_point=["add"],
        answer=[""],
    )
    assert scores == [1.0]


def test_trl_reward_funcs_from_specs():
    funcs, weights = trl_reward_funcs([RewardSpec("format", 0.5), {"name": "math_answer", "weight": 1.0}])
    assert [f.__name__ for f in funcs] == ["format", "math_answer"] and weights == [0.5, 1.0]
    assert math.isclose(sum(weights), 1.5)
