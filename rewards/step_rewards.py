"""Step rewards for the RL loop (`rewards.base.StepReward`) and their aggregation to one score.

Registered in `rewards.registry.STEP_REWARDS`:
- ``rule``: the rule-based verifier (`rewards.steps`): correct -> `correct` (1.0),
  incorrect -> `incorrect` (0.0), neutral and unverifiable -> None by default (no signal,
  masked, never a silent 0). An outcome-only item (`meta.step_check: none`) gets None for
  every step whatever those settings say. Code traces run their execution facts in the sandbox,
  several traces at once (`max_workers`). ``credit: answer_chain`` pays a correct step only when it
  feeds the trace's final answer (`rewards.steps.credit`); other correct steps (trivially true,
  repeated, idle: padding a policy could farm) score `idle` (None: no signal). Wrong steps stay
  wrong either way.
- ``prm``: a trained process reward model directory (`path`), batched; P(step is good).
- ``function``: your own `fn(problem, step_texts) -> list[float | None]` named as
  ``package.module:fn``; a class implementing `StepReward` can also be named directly.

And in `rewards.registry.REWARDS`: ``step_aggregate`` turns any step reward into an outcome
reward by aggregating a completion's step scores with ``min`` (a chain is as good as its
weakest step), ``product`` (all steps good), ``last`` or ``mean``.

A step reward never raises on model output: a completion that breaks a scorer gets None for
each of its steps and is counted in `errors`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewards.registry import load_object
from rewards.steps import Verdict, build_context, verify_steps
from rewards.steps.credit import feeds_answer
from rewards.steps.segment import Segmenter
from rewards.types import Problem, StepSpan

AGGREGATIONS = ("min", "product", "last", "mean")
CREDITS = ("all", "answer_chain")


def aggregate(scores: Sequence[float | None], how: str = "min") -> float | None:
    """One score from a completion's step scores (None scores are skipped; all None -> None)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregate {how!r} is not one of {', '.join(AGGREGATIONS)}")
    vals = [float(s) for s in scores if s is not None]
    if not vals:
        return None
    if how == "min":
        return min(vals)
    if how == "product":
        return math.prod(vals)
    if how == "last":
        return vals[-1]
    return sum(vals) / len(vals)


def _texts(spans: Sequence[StepSpan]) -> list[str]:
    return [s.text for s in spans]


class RuleStepReward:
    name = "rule"

    def __init__(
        self,
        correct: float = 1.0,
        incorrect: float = 0.0,
        neutral: float | None = None,
        unverifiable: float | None = None,
        max_workers: int | None = None,
        credit: str = "all",
        idle: float | None = None,
    ) -> None:
        """`max_workers`: traces scored at once when code traces run in the sandbox (default:
        one per CPU). `credit`: ``all`` (every correct step) or ``answer_chain`` (only correct
        steps that feed the final answer; the rest score `idle`)."""
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"rule: max_workers must be >= 1, got {max_workers}")
        if credit not in CREDITS:
            raise ValueError(f"rule: credit must be one of {', '.join(CREDITS)}, got {credit!r}")
        self.max_workers = max_workers
        self.credit, self.idle = credit, idle
        self.values = {
            Verdict.CORRECT: correct,
            Verdict.INCORRECT: incorrect,
            Verdict.NEUTRAL: neutral,
            Verdict.UNVERIFIABLE: unverifiable,
        }
        self.errors = 0

    def score_steps(
        self, problems: Sequence[Problem], steps: Sequence[Sequence[StepSpan]]
    ) -> list[list[float | None]]:
        contexts: dict[str, Any] = {}
        for problem in problems:
            if problem.id not in contexts:
                try:
                    contexts[problem.id] = build_context(problem)
                except Exception:  # noqa: BLE001 - model output must never stop training
                    contexts[problem.id] = None

        def one(pair: tuple[Problem, Sequence[StepSpan]]) -> list[float | None] | None:
            problem, spans = pair
            try:
                ctx = contexts[problem.id]
                if ctx is None:
                    return None
                if "outcome_only" in ctx.notes:  # masked whatever `unverifiable` says: no step to check
                    return [None] * len(spans)
                texts = _texts(spans)
                verdicts = [v.verdict for v in verify_steps(problem, texts, ctx)]
                fed = feeds_answer(texts) if self.credit == "answer_chain" else [True] * len(texts)
                return [
                    self.idle if v is Verdict.CORRECT and not f else self.values[v]
                    for v, f in zip(verdicts, fed)
                ]
            except Exception:  # noqa: BLE001
                return None

        pairs = list(zip(problems, steps))
        # code traces run their execution facts in the sandbox: threads overlap those waits
        code = [i for i, (p, _) in enumerate(pairs) if getattr(contexts[p.id], "code", False)]
        pooled: dict[int, list[float | None] | None] = {}
        if len(code) > 1:
            with ThreadPoolExecutor(min(len(code), self.max_workers or os.cpu_count() or 1)) as pool:
                pooled = dict(zip(code, pool.map(one, [pairs[i] for i in code])))
        scored = [pooled[i] if i in pooled else one(pair) for i, pair in enumerate(pairs)]
        out = []
        for (_, spans), s in zip(pairs, scored):
            self.errors += s is None
            out.append([None] * len(spans) if s is None else s)
        return out


class PRMStepReward:
    name = "prm"

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 16) -> None:
        from rewards.prm.model import PRMScorer

        if not path:
            raise ValueError("step reward 'prm' needs params.path: a PRM directory trained by the prm recipe")
        self.scorer = PRMScorer.from_pretrained(path, device=device, batch_size=batch_size)
        self.errors = 0

    def score_steps(
        self, problems: Sequence[Problem], steps: Sequence[Sequence[StepSpan]]
    ) -> list[list[float | None]]:
        try:
            return self.scorer.score([p.prompt for p in problems], [_texts(s) for s in steps])
        except Exception:  # noqa: BLE001
            self.errors += 1
            return [[None] * len(s) for s in steps]


class FunctionStepReward:
    """Adapts a plain `fn(problem, step_texts) -> list[float | None]`."""

    def __init__(
        self, fn: Callable[..., Sequence[float | None]], name: str = "function", **params: Any
    ) -> None:
        self.fn, self.name, self.params = fn, name, params
        self.errors = 0

    def score_steps(
        self, problems: Sequence[Problem], steps: Sequence[Sequence[StepSpan]]
    ) -> list[list[float | None]]:
        out = []
        for problem, spans in zip(problems, steps):
            try:
                scores = list(self.fn(problem, _texts(spans), **self.params))
                if len(scores) != len(spans):
                    raise ValueError(f"{self.name} returned {len(scores)} scores for {len(spans)} steps")
                out.append([None if s is None else float(s) for s in scores])
            except Exception:  # noqa: BLE001
                self.errors += 1
                out.append([None] * len(spans))
        return out


class StepAggregateReward:
    """An outcome reward: segment the completion, score its steps, aggregate to one number."""

    def __init__(
        self, step: Any, how: str = "min", segmenter: Segmenter | None = None, name: str = "step_aggregate"
    ):
        if how not in AGGREGATIONS:
            raise ValueError(f"step_aggregate: aggregate {how!r} is not one of {', '.join(AGGREGATIONS)}")
        self.step, self.how, self.segmenter, self.name = step, how, segmenter or Segmenter(), name

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        spans = [[StepSpan(0, 0, t) for t in self.segmenter.split(c)] for c in completions]
        return [aggregate(s, self.how) for s in self.step.score_steps(problems, spans)]


# ---------------------------------------------------------------------- factories (registered)


def make_rule(**params: Any) -> RuleStepReward:
    return RuleStepReward(**params)


def make_prm(**params: Any) -> PRMStepReward:
    return PRMStepReward(**params)


def make_function(fn: str = "", **params: Any) -> FunctionStepReward:
    if not fn:
        raise ValueError("step reward 'function' needs params.fn: 'package.module:function'")
    obj = load_object(fn, what="step reward function")
    if not callable(obj):
        raise TypeError(f"step reward function {fn!r} is not callable")
    return FunctionStepReward(obj, name=fn.rsplit(":", 1)[-1], **params)


def make_step_aggregate(
    step: str = "rule",
    aggregate: str = "min",
    step_params: dict[str, Any] | None = None,
    segment: str = "think",
    **seg: Any,
) -> StepAggregateReward:
    from rewards.registry import STEP_REWARDS

    inner = STEP_REWARDS.get(step)(**(step_params or {}))
    return StepAggregateReward(inner, aggregate, Segmenter(mode=segment, **seg), name=f"{step}_{aggregate}")
