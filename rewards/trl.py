"""Any cotrl reward as a TRL reward function.

TRL (1.16) calls each reward function as
`f(prompts=..., completions=..., completion_ids=..., **columns)`, where `columns` are the
dataset's other columns, one value per completion (e.g. `answer`), plus `trainer_state`,
`log_extra`, `log_metric` (and `environments`). Prompts and completions are strings, or
message lists for conversational datasets. A None score becomes NaN in TRL, which it
ignores in the weighted sum: the same masking our combination does.

    from trl import GRPOTrainer
    from rewards.trl import trl_reward
    trainer = GRPOTrainer(..., reward_funcs=[trl_reward("math_answer"), trl_reward("format")])

The adapter is picklable (it rebuilds the reward from its name and params), and its
`__name__` is the reward's name, which TRL uses for logging.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rewards.types import Problem

_TRL_ARGS = {"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"}
_META_COLUMNS = ("tests", "entry_point", "cases", "prefix")


def _text(x: Any) -> str:
    """A completion or prompt as text: strings as they are, message lists joined by content."""
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        return str(x.get("content", ""))
    if isinstance(x, (list, tuple)):
        return "".join(_text(m) for m in x)
    return "" if x is None else str(x)


def _last_user(prompt: Any) -> str:
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], dict):
        users = [m for m in prompt if m.get("role") == "user"]
        return _text(users[-1] if users else prompt[-1])
    return _text(prompt)


class TRLReward:
    """Callable `(prompts, completions, **columns) -> list[float | None]` around one reward."""

    def __init__(self, name: str, answer_column: str = "answer", **params: Any) -> None:
        self.reward_name, self.answer_column, self.params = name, answer_column, dict(params)
        self.__name__ = name
        self._reward: Any = None
        self._build()  # fail at construction, not at the first training step

    def _build(self) -> Any:
        if self._reward is None:
            from rewards.combine import RewardSpec, build_reward

            self._reward = build_reward(RewardSpec(self.reward_name, 1.0, self.params))
        return self._reward

    def __getstate__(self) -> dict[str, Any]:
        return {
            "reward_name": self.reward_name,
            "answer_column": self.answer_column,
            "params": self.params,
            "__name__": self.__name__,
            "_reward": None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def problems(self, prompts: Sequence[Any], n: int, columns: dict[str, Any]) -> list[Problem]:
        rows = []
        for i in range(n):
            col = {
                k: v[i]
                for k, v in columns.items()
                if k not in _TRL_ARGS and isinstance(v, (list, tuple)) and len(v) == n
            }
            meta = dict(col.get("meta") or {}) if isinstance(col.get("meta"), dict) else {}
            meta.update({k: col[k] for k in _META_COLUMNS if k in col and col[k] is not None})
            answer = col.get(self.answer_column)
            rows.append(
                Problem(
                    id=str(col.get("id", i)),
                    task=str(col.get("task", "")),
                    prompt=_last_user(prompts[i]) if i < len(prompts) else "",
                    answer="" if answer is None else str(answer),
                    meta=meta,
                )
            )
        return rows

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **columns: Any
    ) -> list[float | None]:
        comps = [_text(c) for c in (completions or [])]
        problems = self.problems(list(prompts or []), len(comps), columns)
        reward = self._build()
        scores = list(reward(problems, comps))
        self._warn_if_all_none(problems, scores, reward, columns)
        log_metric = columns.get("log_metric")
        if callable(log_metric) and scores:
            log_metric(f"{self.__name__}/unverifiable_frac", sum(s is None for s in scores) / len(scores))
            statuses = getattr(reward, "statuses", None)
            if callable(statuses):
                for status, count in Counter(statuses()).items():
                    log_metric(f"{self.__name__}/status/{status}", count / len(scores))
        return scores

    def _warn_if_all_none(
        self, problems: list[Problem], scores: list[float | None], reward: Any, columns: dict[str, Any]
    ) -> None:
        """A batch where this reward is None for every completion teaches nothing (TRL turns None
        into NaN and skips it): say why, once per reason."""
        from rewards.combine import none_reason

        reason = none_reason(problems, scores, reward)
        if reason is None:
            return
        if self.answer_column not in columns:
            present = sorted(k for k in columns if k not in _TRL_ARGS)
            reason = (
                f"the dataset has no {self.answer_column!r} column (TRL passes dataset columns by name; "
                f"columns: {', '.join(present) or 'none'}); rename it, or "
                f"trl_reward({self.reward_name!r}, answer_column=...)"
            )
        warned = self.__dict__.setdefault("_warned", set())
        if reason not in warned:
            warned.add(reason)
            warnings.warn(
                f"reward {self.reward_name!r} gave None for the whole batch: {reason}", stacklevel=3
            )


def trl_reward(name: str, answer_column: str = "answer", **params: Any) -> TRLReward:
    """The registered reward `name` (with `params`) as a TRL reward function."""
    return TRLReward(name, answer_column=answer_column, **params)


def trl_reward_funcs(specs: Sequence[Any]) -> tuple[list[TRLReward], list[float]]:
    """Recipe reward specs -> (reward_funcs, reward_weights) for `GRPOTrainer` / `GRPOConfig`."""
    funcs, weights = [], []
    for s in specs:
        name = s.name if hasattr(s, "name") else s["name"]
        params = s.params if hasattr(s, "params") else s.get("params", {})
        weight = s.weight if hasattr(s, "weight") else s.get("weight", 1.0)
        funcs.append(trl_reward(name, **dict(params)))
        weights.append(float(weight))
    return funcs, weights
