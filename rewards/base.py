"""Reward protocols shared by verifiers, step rewards and the RL loop.

An outcome `Reward` scores whole completions; `None` means unverifiable (masked by the
combination and the trainer, never scored 0). A `StepReward` scores the steps of each
completion; its spans carry token ranges into the completion, so the trainer can place
each step's score on the step's last token.

Two optional extensions of a step reward, used by the RL loop (`rlhf.rollout.scoring.Scorer`)
when present: `score_rollouts(problems, rollouts)` scores from the sampled rollouts themselves
(token ids, step spans in `rollout.steps`, outcome) instead of the step texts, and
`update(rollouts) -> dict[str, float]` learns from the scored batch after every step reward has
scored it (metrics logged under `step_reward/NAME/`), with `state_dict()` / `load_state_dict()`
saved in and restored from every RL checkpoint. `rewards.prm.implicit` uses all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rewards.types import Problem, StepSpan


@runtime_checkable
class Reward(Protocol):
    name: str

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        """One score per completion; problems[i] is the problem completions[i] answers."""
        ...


@runtime_checkable
class StepReward(Protocol):
    name: str

    def score_steps(
        self, problems: Sequence[Problem], steps: Sequence[Sequence[StepSpan]]
    ) -> list[list[float | None]]:
        """One score per step (None: unverifiable step) for each completion's segmented steps."""
        ...
