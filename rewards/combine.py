"""A weighted combination of outcome rewards, built from a recipe's `{name, weight, params}`.

A component returning None (unverifiable) is masked, never read as 0: with `mask="any"`
(default) the completion's total is None as soon as one weighted component is None, so a
partly checked completion never gets a partial score; with `mask="all"` the total is the
weighted sum of the components that could be checked, None only when none could.
Each call also records what a person needs to trust the numbers: per-reward means,
None counts, latencies and status counts (`last_stats`, flat keys ready for a logger).
Every component runs under `rewards.guard`: one that crashes, hangs past `timeout_s` or
returns garbage is masked (None) for the samples it failed on and counted under
`reward/<name>/fault/<kind>`; `Combined.faults` says which samples lost a reward that way.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rewards.base import Reward
from rewards.guard import guarded_call
from rewards.registry import REWARDS
from rewards.types import Problem


@dataclass(frozen=True)
class RewardSpec:
    """One reward in a weighted combination: `{name, weight, params}`."""

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


def build_reward(spec: RewardSpec) -> Reward:
    """Resolve `spec.name` in `rewards.registry.REWARDS` and call the factory with `spec.params`."""
    factory = REWARDS.get(spec.name)
    try:
        reward = factory(**dict(spec.params))
    except TypeError as exc:
        raise TypeError(f"reward {spec.name!r}: bad params {dict(spec.params)}: {exc}") from None
    if not callable(reward):
        raise TypeError(
            f"reward {spec.name!r}: factory returned {type(reward).__name__}, which is not callable"
        )
    return reward


@dataclass(frozen=True)
class Combined:
    totals: list[float | None]  # one per completion; None = masked
    per_reward: dict[str, list[float | None]]  # component scores, by spec name
    stats: dict[
        str, float
    ]  # flat metrics (reward/<name>/mean, .../none, .../latency_s, .../status/<s>, .../fault/<kind>)
    faults: list[bool] = ()  # type: ignore[assignment]  # per completion: some weighted reward faulted on it
    all_none: dict[str, str] = field(
        default_factory=dict
    )  # spec name -> why it gave None for the whole batch


class CombinedReward:
    """A `rewards.base.Reward` over several weighted rewards."""

    name = "combined"

    def __init__(
        self, specs: Sequence[RewardSpec], mask: Literal["any", "all"] = "any", timeout_s: float | None = None
    ) -> None:
        if not specs:
            raise ValueError("rewards: at least one reward is needed")
        if mask not in ("any", "all"):
            raise ValueError(f"rewards mask must be 'any' or 'all', got {mask!r}")
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rewards: {dupes} listed more than once; give one entry per reward")
        for s in specs:
            if not isinstance(s.weight, (int, float)) or s.weight != s.weight:
                raise ValueError(f"rewards[{s.name}].weight must be a number, got {s.weight!r}")
        self.specs = tuple(specs)
        self.mask = mask
        self.timeout_s = timeout_s  # per reward call; None: no deadline (faults are still caught)
        self.rewards = [build_reward(s) for s in specs]
        self.last_stats: dict[str, float] = {}

    def score(self, problems: Sequence[Problem], completions: Sequence[str]) -> Combined:
        if len(problems) != len(completions):
            raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
        per: dict[str, list[float | None]] = {}
        all_none: dict[str, str] = {}
        stats: dict[str, float] = {}
        faulted = [False] * len(completions)
        for spec, reward in zip(self.specs, self.rewards):
            t0 = time.perf_counter()
            got = guarded_call(reward, (problems, completions), len(completions), self.timeout_s)
            latency = time.perf_counter() - t0
            per[spec.name] = got.scores
            stats.update(_component_stats(spec.name, per[spec.name], latency, reward))
            reason = none_reason(problems, got.scores, reward, got.faults)
            if reason is not None:
                all_none[spec.name] = reason
            for kind, n in Counter(f for f in got.faults if f).items():
                stats[f"reward/{spec.name}/fault/{kind}"] = float(n)
            if spec.weight != 0:
                faulted = [a or bool(b) for a, b in zip(faulted, got.faults)]
        totals = [self._total(i, per) for i in range(len(completions))]
        valid = [t for t in totals if t is not None]
        stats["reward/total/mean"] = sum(valid) / len(valid) if valid else float("nan")
        stats["reward/total/none"] = float(len(totals) - len(valid))
        stats["reward/total/faulted"] = float(sum(faulted))
        self.last_stats = stats
        return Combined(totals, per, stats, faulted, all_none)

    def _total(self, i: int, per: dict[str, list[float | None]]) -> float | None:
        parts = [(spec.weight, per[spec.name][i]) for spec in self.specs if spec.weight != 0]
        if not parts:
            return 0.0
        missing = [v is None for _, v in parts]
        if (self.mask == "any" and any(missing)) or all(missing):
            return None
        return float(sum(w * v for w, v in parts if v is not None))

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        return self.score(problems, completions).totals


def none_reason(
    problems: Sequence[Problem], scores: Sequence[float | None], reward: Any, faults: Sequence[Any] = ()
) -> str | None:
    """Why a reward gave None for every completion of a batch (None when some score is a number).

    A whole batch of None is almost always set-up, not model output: problems without the
    answer a verifier compares against, a dataset column under another name, a crashing
    reward. The reason names what the batch shows so the user can tell which."""
    if not scores or any(s is not None for s in scores):
        return None
    n = len(scores)
    faulted = Counter(f for f in faults if f)
    if faulted:
        return f"it faulted on {sum(faulted.values())} of {n} ({', '.join(f'{k}={v}' for k, v in faulted.items())})"
    if all(not str(p.answer).strip() for p in problems):
        return f"none of the {n} problems has an answer to compare against (empty `answer`)"
    statuses = getattr(reward, "statuses", None)
    if callable(statuses) and statuses():
        counted = ", ".join(f"{k}={v}" for k, v in Counter(statuses()).items())
        return f"it returned None for all {n} completions (verdicts: {counted})"
    return f"it returned None for all {n} completions"


def _component_stats(name: str, scores: list[float | None], latency: float, reward: Any) -> dict[str, float]:
    valid = [s for s in scores if s is not None]
    out = {
        f"reward/{name}/mean": sum(valid) / len(valid) if valid else float("nan"),
        f"reward/{name}/none": float(len(scores) - len(valid)),
        f"reward/{name}/latency_s": latency,
    }
    statuses = getattr(reward, "statuses", None)
    if callable(statuses):
        for status, n in Counter(statuses()).items():
            out[f"reward/{name}/status/{status}"] = float(n)
    return out


def from_run_config(cfg: Any) -> CombinedReward:
    """The combined reward of a `rlhf.config.recipe.RunConfig` (its `rewards` and `reward_options`)."""
    from rewards.math.pool import configure_default_pool

    opts = cfg.reward_options
    if opts.math_workers:
        configure_default_pool(opts.math_workers)
    return CombinedReward(cfg.rewards, mask=opts.mask)


def from_config(
    specs: Sequence[RewardSpec] | Sequence[dict[str, Any]], mask: Literal["any", "all"] = "any"
) -> CombinedReward:
    """Accept specs as `RewardSpec`s or plain `{name, weight, params}` mappings."""
    built = [s if isinstance(s, RewardSpec) else RewardSpec(**s) for s in specs]
    return CombinedReward(built, mask=mask)
