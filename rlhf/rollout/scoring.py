"""Score rollouts with the recipe's rewards: outcome rewards and step rewards, weighted.

`rewards:` in a recipe lists `{name, weight, params}`; a name found in
`rewards.registry.STEP_REWARDS` (or user code with a `score_steps` method) scores steps,
anything else is an outcome reward from `rewards.registry.REWARDS`. Combination rules:
- outcome = `rewards.combine.CombinedReward` over the outcome rewards (weighted sum;
  `reward_options.mask: any` makes it None, i.e. masked, when any component is None);
- a step's score = weighted sum over the step rewards, None when any is None;
- a step reward with `score_rollouts` scores the rollouts (tokens, spans, outcome) instead of
  step texts, and one with `update` learns from the batch once all have scored it (`implicit_prm`).
Every reward runs under `rewards.guard` (deadline `timeout_s`): a crash, hang or garbage
masks the samples it touched and counts them; `reward_fault_frac` is the share of
completions that lost some reward to a fault this batch.
`accuracy` is the share of completions whose first outcome reward is >= 0.5 (1/0 verifiers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.combine import RewardSpec
from rewards.types import Problem, Rollout, StepSpan


@dataclass
class ScoredBatch:
    rollouts: list[Rollout]
    metrics: dict[str, float] = field(default_factory=dict)
    correct: list[bool] = field(default_factory=list)  # per rollout, for pass rates
    none_reason: str | None = None  # every outcome None: which reward gave None for the batch, and why


class Scorer:
    def __init__(
        self,
        specs: Sequence[RewardSpec],
        tokenizer: Any,
        mask: str = "any",
        math_workers: int = 0,
        timeout_s: float | None = None,
    ) -> None:
        from rewards.combine import CombinedReward
        from rewards.registry import REWARDS, STEP_REWARDS

        if not specs:
            raise ValueError("rewards: list at least one reward, e.g. [{name: math_answer}]")
        if math_workers:
            from rewards.math.pool import configure_default_pool

            configure_default_pool(math_workers)
        self.tokenizer = tokenizer
        self.timeout_s = timeout_s
        self.step: list[tuple[str, float, Any]] = []
        outcome_specs = []
        for spec in specs:
            if spec.name in STEP_REWARDS:
                self.step.append((spec.name, spec.weight, STEP_REWARDS.get(spec.name)(**spec.params)))
            elif ":" in spec.name and hasattr(obj := REWARDS.get(spec.name)(**spec.params), "score_steps"):
                self.step.append((_short(spec.name), spec.weight, obj))
            else:
                outcome_specs.append(spec)
        self.outcome = (
            CombinedReward(outcome_specs, mask=mask, timeout_s=timeout_s) if outcome_specs else None
        )  # type: ignore[arg-type]
        self.first = outcome_specs[0].name if outcome_specs else None

    @property
    def has_steps(self) -> bool:
        return bool(self.step)

    def state_dict(self) -> dict[str, Any]:
        """The run state of step rewards that learn online (e.g. `implicit_prm`), by name; {} if none."""
        return {name: fn.state_dict() for name, _, fn in self.step if hasattr(fn, "state_dict")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, _, fn in self.step:
            if hasattr(fn, "load_state_dict"):
                if name not in state:
                    raise ValueError(
                        f"checkpoint holds no state for step reward {name!r} (it has {sorted(state) or 'none'}): "
                        "was it added to the recipe after the run started?"
                    )
                fn.load_state_dict(state[name])

    def __call__(self, problems: Sequence[Problem], rollouts: Sequence[Rollout]) -> ScoredBatch:
        texts = [r.text for r in rollouts]
        metrics: dict[str, float] = {}
        outcomes: list[float | None] = [None] * len(rollouts)
        first: list[float | None] = [None] * len(rollouts)
        faulted = [False] * len(rollouts)
        none_reason = None
        if self.outcome is not None:
            combined = self.outcome.score(problems, texts)
            if combined.all_none and all(o is None for o in combined.totals):
                none_reason = "; ".join(f"reward {_short(k)!r}: {v}" for k, v in combined.all_none.items())
            faulted = list(combined.faults)
            outcomes, first = combined.totals, combined.per_reward[self.first]
            metrics.update(
                {
                    k.replace("reward/" + self.first, "reward/" + _short(self.first), 1)
                    if ":" in (self.first or "")
                    else k: v
                    for k, v in combined.stats.items()
                }
            )
        steps = (
            [() for _ in rollouts]
            if not self.step
            else self._score_steps(problems, rollouts, outcomes, metrics, faulted)
        )
        metrics["reward_fault_frac"] = sum(faulted) / max(len(faulted), 1)
        out = [r.with_rewards(o, s) for r, o, s in zip(rollouts, outcomes, steps)]
        correct = [s is not None and float(s) >= 0.5 for s in first]
        metrics["accuracy"] = sum(correct) / len(correct) if self.outcome is not None else float("nan")
        valid = [o for o in outcomes if o is not None]
        metrics["reward_mean"] = sum(valid) / len(valid) if valid else float("nan")
        metrics["reward_none_frac"] = 1 - len(valid) / len(outcomes) if self.outcome is not None else 0.0
        return ScoredBatch(rollouts=out, metrics=metrics, correct=correct, none_reason=none_reason)

    def _score_steps(
        self, problems, rollouts, outcomes, metrics, faulted: list[bool]
    ) -> list[tuple[StepSpan, ...]]:
        from rewards.guard import check_step_rows, guarded_call

        spans = [segment_rollout(self.tokenizer, r) for r in rollouts]
        # what a rollout-level step reward sees: the completion's tokens, its step spans and outcome
        staged = [r.with_rewards(o, s) for r, o, s in zip(rollouts, outcomes, spans)]
        combined: list[list[float | None]] = [[0.0] * len(s) for s in spans]
        for name, weight, fn in self.step:
            call, args = (
                (fn.score_rollouts, (problems, staged))
                if hasattr(fn, "score_rollouts")
                else (fn.score_steps, (problems, [list(s) for s in spans]))
            )
            got = guarded_call(
                call,
                args,
                len(spans),
                self.timeout_s,
                check_step_rows([len(s) for s in spans]),
            )
            scores = got.scores
            for kind in {f for f in got.faults if f}:
                metrics[f"step_reward/{name}/fault/{kind}"] = float(sum(f == kind for f in got.faults))
            if weight != 0:
                faulted[:] = [a or bool(b) for a, b in zip(faulted, got.faults)]
            flat = [x for row in scores for x in row]
            _reward_metrics(metrics, f"step_reward/{name}", flat)
            combined = [
                [None if (c is None or x is None) else c + weight * float(x) for c, x in zip(crow, srow)]
                for crow, srow in zip(combined, scores)
            ]
        for name, _, fn in self.step:  # a step reward that learns online does so after scoring
            if hasattr(fn, "update"):
                metrics.update({f"step_reward/{name}/{k}": v for k, v in fn.update(staged).items()})
        flat = [x for row in combined for x in row if x is not None]
        metrics["step_accuracy"] = sum(x >= 0.5 for x in flat) / len(flat) if flat else float("nan")
        metrics["steps_per_completion"] = sum(len(s) for s in spans) / max(len(spans), 1)
        return [
            tuple(StepSpan(sp.start, sp.end, sp.text, sc) for sp, sc in zip(row, srow))
            for row, srow in zip(spans, combined)
        ]


def segment_rollout(tokenizer: Any, rollout: Rollout) -> tuple[StepSpan, ...]:
    """The completion's reasoning steps as token spans (segmentation lives in `rewards.steps.segment`)."""
    from rewards.steps.segment import step_spans

    return tuple(step_spans(list(rollout.completion_ids), tokenizer))


def _reward_metrics(metrics: dict[str, float], prefix: str, scores: Sequence[float | None]) -> None:
    valid = [float(s) for s in scores if s is not None]
    metrics[f"{prefix}/mean"] = sum(valid) / len(valid) if valid else float("nan")
    metrics[f"{prefix}/none"] = float(len(scores) - len(valid))


def _short(name: str) -> str:
    return name.rsplit(":", 1)[-1]
