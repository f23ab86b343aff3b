"""Reward protocols shared by verifiers, step rewards and the RL loop.

An outcome `Reward` scores whole completions; `None` means unverifiable (masked by the
combination and the trainer, never scored 0). A `StepReward` scores the steps of each
completion; its spans carry token ranges into the completion, so the trainer can place
each step's score on the step's last token.
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
