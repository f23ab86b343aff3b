"""A step reward that takes a moment, so a tiny GRPO run is still training while the browser watches it."""

from __future__ import annotations

import time

from tests.rlhf.trainers.rl_helpers import StepHasDigit


class PacedStepHasDigit(StepHasDigit):
    """`StepHasDigit` (1 for a step with a digit, 0 without: a wrong step), 0.3 s per batch."""

    name = "paced_step_has_digit"

    def score_steps(self, problems, steps):
        time.sleep(0.3)
        return super().score_steps(problems, steps)


def paced_step_has_digit(**params):
    return PacedStepHasDigit()
