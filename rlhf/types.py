"""The few data types shared across data_gen -> rollout -> rewards -> algos.

Data flows one way: a generator emits `Problem`s, a sampler turns them into
`Rollout`s, rewards fill `outcome` and `steps[*].score`, and the trainer packs
rollouts into a `RolloutBatch` of padded tensors for the pure algorithm functions.
Outcome and step rewards travel through the same token-level tensor
(`token_rewards`), so every advantage estimator has one signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor


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


@dataclass
class RolloutBatch:
    """Padded tensors the algorithms see. Shapes: N rollouts, T = prompt + completion tokens.

    `token_rewards` carries a step's score at the step's last token and the outcome at
    the completion's last token (token-level estimators: reinforce_pp, gae). A None
    reward is absent, never 0: `outcome_mask` [N] marks verifiable outcomes (outcome-level
    estimators: grpo, rloo) and `step_mask` [N, T] marks step-final tokens holding a
    score (process_grpo). See `rlhf.algos.advantages` for which estimator reads what.
    """

    input_ids: Tensor  # [N, T] long
    attention_mask: Tensor  # [N, T] long
    response_mask: Tensor  # [N, T] float, 1 on completion tokens
    old_logprobs: Tensor  # [N, T] float, logprob of input_ids[t] under the policy that sampled it
    token_rewards: Tensor  # [N, T] float
    group_index: Tensor  # [N] long
    outcome_rewards: Tensor  # [N] float (0 where unverifiable)
    outcome_mask: Tensor  # [N] float, 1 where the outcome is verifiable
    step_rewards: Tensor | None = None  # [N, T] float, step scores at step-final tokens
    step_mask: Tensor | None = None  # [N, T] float, 1 at step-final tokens with a score
    ref_logprobs: Tensor | None = None  # [N, T]
    values: Tensor | None = None  # [N, T] critic values (PPO)
    sampler_logprobs: Tensor | None = None  # [N, T] the rollout engine's own logprobs

    @property
    def num_rollouts(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> RolloutBatch:
        moved = {
            name: (value.to(device) if isinstance(value, Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return RolloutBatch(**moved)

    def select(self, index: Tensor) -> RolloutBatch:
        """Rows `index` of every tensor (for micro-batching)."""
        picked = {
            name: (value[index] if isinstance(value, Tensor) else value) for name, value in self.__dict__.items()
        }
        return RolloutBatch(**picked)
