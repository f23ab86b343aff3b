"""Gold completion text: what SFT trains on and what the step verifier must accept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def completion(steps: Sequence[str], answer: str) -> str:
    """Steps one per line inside <think>, then the answer tag."""
    return f"{THINK_OPEN}\n" + "\n".join(steps) + f"\n{THINK_CLOSE}\n{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def gold_completion(item: Mapping[str, Any] | Any) -> str:
    """For a JSONL row (dict) or an `rewards.types.Problem`."""
    if isinstance(item, Mapping):
        return completion(item["solution_steps"], item["answer"])
    return completion(item.solution_steps, item.answer)
