"""Small rewards, estimators and data for RL loop tests (referenced from recipes as `tests.rlhf.trainers.rl_helpers:NAME`).

The tiny model is random, so a right/wrong verifier would almost never give a group any
variance; these rewards score surface features that random text does vary in.
"""

from __future__ import annotations

import json
from pathlib import Path

from rewards.types import StepSpan
from rlhf.algos import EstimatorInfo


class DigitShare:
    """Outcome: the share of characters that are digits (varies across random samples)."""

    name = "digit_share"

    def __call__(self, problems, completions):
        return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


class NoneReward:
    name = "none_reward"

    def __call__(self, problems, completions):
        return [None for _ in completions]


class NanReward:
    name = "nan_reward"

    def __call__(self, problems, completions):
        return [float("nan") for _ in completions]


class HugeReward:
    """Within float32's range (so the reward guard passes it), but the group's sum overflows: a NaN loss."""

    name = "huge_reward"

    def __call__(self, problems, completions):
        return [3e38 for _ in completions]


class StepHasDigit:
    """Step reward: 1 for a step containing a digit, else 0; None for an empty step."""

    name = "step_has_digit"

    def score_steps(self, problems, steps: list[list[StepSpan]]):
        return [
            [(1.0 if any(ch.isdigit() for ch in s.text) else 0.0) if s.text.strip() else None for s in row]
            for row in steps
        ]


def digit_share(**params):
    return DigitShare()


def none_reward(**params):
    return NoneReward()


def nan_reward(**params):
    return NanReward()


def huge_reward(**params):
    return HugeReward()


def step_has_digit(**params):
    return StepHasDigit()


def write_problems(path: Path, n: int = 8) -> Path:
    rows = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        rows.append(
            {
                "id": f"add-{i}",
                "task": "arith",
                "prompt": f"Compute {a} + {b}.",
                "answer": str(a + b),
                "messages": [{"role": "user", "content": f"Compute {a} + {b}."}],
                "solution_steps": [f"Add: {a} + {b} = {a + b}"],
                "difficulty": {"level": 1},
                "meta": {},
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe(tmp: Path, trainer: str = "grpo", extra: str = "") -> Path:
    """A tiny CPU recipe over a JSONL file; `extra` is appended YAML."""
    data = write_problems(tmp / "problems.jsonl")
    text = f"""trainer: {trainer}
run:
  output_dir: {tmp / "run"}
  seed: 1
  device: cpu
model:
  path: tiny
tiny:
  hidden_size: 64
  num_heads: 1
  num_layers: 1
  intermediate_size: 128
  vocab_size: 320
data:
  source: jsonl
  path: {data}
  prompts_per_step: 2
rollout:
  backend: transformers
  n: 4
  max_new_tokens: 12
rewards:
  - name: tests.rlhf.trainers.rl_helpers:digit_share
train:
  steps: 3
  lr: 1.0e-3
{extra}"""
    path = tmp / "recipe.yaml"
    path.write_text(text)
    return path


def critic_residual(batch, cfg):
    """User estimator that reads critic values and describes itself (`estimator_info`)."""
    return (batch.token_rewards - batch.values) * batch.response_mask


critic_residual.estimator_info = EstimatorInfo(
    reads={"token_rewards", "values"}, description="token reward minus the critic's value"
)


def outcome_sign(batch, cfg):
    """User estimator without `estimator_info`: the recipe checks assume nothing about it."""
    return batch.outcome_rewards.sign()[:, None] * batch.response_mask


class ProgressProbe(DigitShare):
    """DigitShare that, on each call, records how many lines the run's stdout file already holds
    (`COTRL_TEST_STDOUT`) into `COTRL_TEST_PROBE`: what a `tail -f` of the log saw mid-run."""

    name = "progress_probe"

    def __call__(self, problems, completions):
        import os

        seen = Path(os.environ["COTRL_TEST_STDOUT"]).read_text().splitlines()
        with open(os.environ["COTRL_TEST_PROBE"], "a") as fh:
            fh.write(json.dumps(seen) + "\n")
        return super().__call__(problems, completions)


def progress_probe(**params):
    return ProgressProbe()
