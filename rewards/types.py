"""The item types every layer shares: a problem, a sampled completion and its steps.

Data flows one way: a generator (data_gen) emits `Problem`s, a sampler (rlhf.rollout)
turns them into `Rollout`s, and rewards fill `outcome` and `steps[*].score`. They live
here, in the lowest package, so verifiers and generators need nothing from above them.
The padded tensors the algorithms see are `rlhf.algos.types.RolloutBatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One generated (or loaded) item; the JSONL row of `cotrl gen` as a type.

    `meta` holds what a verifier needs (expressions, variables, tests, entry point);
    `solution_steps` are individually checkable claims, in order.
    """

    id: str
    task: str
    prompt: str
    answer: str
    messages: tuple[dict[str, str], ...] = ()
    solution_steps: tuple[str, ...] = ()
    difficulty: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Problem:
        missing = [k for k in ("id", "task", "prompt", "answer") if k not in row]
        if missing:
            raise ValueError(f"problem row is missing {', '.join(missing)} (has {sorted(row)})")
        messages = row.get("messages") or ({"role": "user", "content": row["prompt"]},)
        return cls(
            id=str(row["id"]),
            task=str(row["task"]),
            prompt=str(row["prompt"]),
            answer=str(row["answer"]),
            messages=tuple(dict(m) for m in messages),
            solution_steps=tuple(str(s) for s in row.get("solution_steps") or ()),
            difficulty=dict(row.get("difficulty") or {}),
            meta=dict(row.get("meta") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "prompt": self.prompt,
            "messages": [dict(m) for m in self.messages],
            "answer": self.answer,
            "solution_steps": list(self.solution_steps),
            "difficulty": dict(self.difficulty),
            "meta": dict(self.meta),
        }


@dataclass(frozen=True)
class StepSpan:
    """One reasoning step inside a completion: completion-token range [start, end)."""

    start: int
    end: int
    text: str
    score: float | None = None


@dataclass(frozen=True)
class Rollout:
    """One sampled completion for one problem.

    `group` indexes the problem within a batch; all samples of one prompt share it.
    `outcome` is None when no outcome reward has been computed or it was unverifiable.
    """

    problem_id: str
    group: int
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    sampler_logprobs: tuple[float, ...]
    text: str
    finish_reason: str  # "stop" (eos or stop string) or "length"
    outcome: float | None = None
    steps: tuple[StepSpan, ...] = ()

    def with_rewards(self, outcome: float | None, steps: tuple[StepSpan, ...] | None = None) -> Rollout:
        return replace(self, outcome=outcome, steps=self.steps if steps is None else steps)
