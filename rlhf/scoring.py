"""Score rollouts with the recipe's rewards: outcome rewards and step rewards, weighted.

`rewards:` in a recipe lists `{name, weight, params}`; a name found in
`rewards.registry.STEP_REWARDS` scores steps, anything else is an outcome reward from
`rewards.registry.REWARDS` (or `package.module:factory`). Combination rules:
- outcome = sum of weight * score over the outcome rewards; None (unverifiable, masked)
  when any outcome reward returns None for that completion, so a missing verdict never
  turns into a 0;
- a step's score = weighted sum over the step rewards, None when any is None.
`accuracy` is the share of completions whose first outcome reward is >= 0.5 (1/0 verifiers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlhf.recipe import RewardSpec
from rlhf.types import Problem, Rollout, StepSpan


@dataclass
class ScoredBatch:
    rollouts: list[Rollout]
    metrics: dict[str, float] = field(default_factory=dict)
    correct: list[bool] = field(default_factory=list)  # per rollout, for pass rates


class Scorer:
    def __init__(self, specs: Sequence[RewardSpec], tokenizer: Any) -> None:
        from rewards.registry import REWARDS, STEP_REWARDS

        if not specs:
            raise ValueError("rewards: list at least one reward, e.g. [{name: math_answer}]")
        self.tokenizer = tokenizer
        self.outcome: list[tuple[str, float, Any]] = []
        self.step: list[tuple[str, float, Any]] = []
        for spec in specs:
            if spec.name in STEP_REWARDS:
                self.step.append((spec.name, spec.weight, STEP_REWARDS.get(spec.name)(**spec.params)))
                continue
            obj = REWARDS.get(spec.name)(**spec.params)
            target = self.step if hasattr(obj, "score_steps") else self.outcome
            target.append((_short(spec.name), spec.weight, obj))

    @property
    def has_steps(self) -> bool:
        return bool(self.step)

    def __call__(self, problems: Sequence[Problem], rollouts: Sequence[Rollout]) -> ScoredBatch:
        texts = [r.text for r in rollouts]
        metrics: dict[str, float] = {}
        outcomes: list[float | None] = [0.0 if self.outcome else None] * len(rollouts)
        first: list[float | None] = [None] * len(rollouts)
        for k, (name, weight, fn) in enumerate(self.outcome):
            scores = list(fn(problems, texts))
            if len(scores) != len(rollouts):
                raise ValueError(f"reward {name!r} returned {len(scores)} scores for {len(rollouts)} completions")
            _reward_metrics(metrics, f"reward/{name}", scores)
            if k == 0:
                first = scores
            outcomes = [None if (o is None or s is None) else o + weight * float(s) for o, s in zip(outcomes, scores)]
        steps = [() for _ in rollouts] if not self.step else self._score_steps(problems, rollouts, metrics)
        out = [r.with_rewards(o, s) for r, o, s in zip(rollouts, outcomes, steps)]
        correct = [s is not None and float(s) >= 0.5 for s in first]
        metrics["accuracy"] = sum(correct) / len(correct) if self.outcome else float("nan")
        valid = [o for o in outcomes if o is not None]
        metrics["reward_mean"] = sum(valid) / len(valid) if valid else float("nan")
        metrics["reward_none_frac"] = 1 - len(valid) / len(outcomes) if self.outcome else 0.0
        return ScoredBatch(rollouts=out, metrics=metrics, correct=correct)

    def _score_steps(self, problems, rollouts, metrics) -> list[tuple[StepSpan, ...]]:
        spans = [segment_rollout(self.tokenizer, r) for r in rollouts]
        combined: list[list[float | None]] = [[0.0] * len(s) for s in spans]
        for name, weight, fn in self.step:
            scores = fn.score_steps(problems, spans)
            flat = [x for row in scores for x in row]
            _reward_metrics(metrics, f"step_reward/{name}", flat)
            combined = [[None if (c is None or x is None) else c + weight * float(x) for c, x in zip(crow, srow)]
                        for crow, srow in zip(combined, scores)]
        flat = [x for row in combined for x in row if x is not None]
        metrics["step_accuracy"] = sum(x >= 0.5 for x in flat) / len(flat) if flat else float("nan")
        metrics["steps_per_completion"] = sum(len(s) for s in spans) / max(len(spans), 1)
        return [tuple(StepSpan(sp.start, sp.end, sp.text, sc) for sp, sc in zip(row, srow))
                for row, srow in zip(spans, combined)]


def segment_rollout(tokenizer: Any, rollout: Rollout) -> tuple[StepSpan, ...]:
    """The completion's reasoning steps as token spans (segmentation lives in `rewards.segment`)."""
    from rewards.segment import step_spans

    return tuple(step_spans(list(rollout.completion_ids), tokenizer))


def _reward_metrics(metrics: dict[str, float], prefix: str, scores: Sequence[float | None]) -> None:
    valid = [float(s) for s in scores if s is not None]
    metrics[f"{prefix}/mean"] = sum(valid) / len(valid) if valid else float("nan")
    metrics[f"{prefix}/none"] = float(len(scores) - len(valid))


def _short(name: str) -> str:
    return name.rsplit(":", 1)[-1]
