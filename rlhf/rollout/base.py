"""The `Sampler` protocol every rollout backend implements.

The trainer hands token ids in and gets completions with the sampler's own token
logprobs back (for importance-sampling correction). Backends never see the trainer;
after an update the trainer calls `sync_weights` (a no-op where the sampler shares the
policy's weights) and may probe parity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1  # samples per prompt
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()  # stop strings (the string itself is kept in the text)
    seed: int | None = None  # same seed, same prompts -> same samples

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"rollout.n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"rollout.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"rollout.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"rollout.top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Completion:
    """One sample: ids exclude the prompt; logprobs[i] is the sampler's logprob of ids[i]."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    finish_reason: str  # "stop" or "length"


@dataclass(frozen=True)
class SyncReport:
    seconds: float
    num_tensors: int = 0
    probe_max_abs_diff: float | None = None  # logprob mismatch on the probe batch, if probed
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Sampler(Protocol):
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions (outer list follows `prompts`)."""
        ...

    def sync_weights(self, model: Any) -> SyncReport:
        """Make the sampler generate with `model`'s current weights."""
        ...
