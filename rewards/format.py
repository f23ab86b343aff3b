"""Shaping rewards that look only at the completion's text: the R1 format reward, length
penalties (DAPO's soft overlong punishment, or linear) and an n-gram repetition penalty.

They never return None: text is always checkable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from rewards.types import Problem

_R1 = re.compile(r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.S)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def format_score(text: str, partial: bool = False) -> float:
    """1.0 for `<think>...</think><answer>...</answer>` with each tag exactly once, nothing
    outside and a non-empty answer; else 0.0, or with `partial` 0.2 per tag present
    exactly once (at most 0.8, so only the exact format earns 1.0)."""
    if not isinstance(text, str):
        return 0.0
    once = all(text.count(tag) == 1 for tag in _TAGS)
    m = _R1.match(text)
    if once and m and m.group("answer").strip():
        return 1.0
    if partial:
        return 0.2 * sum(text.count(tag) == 1 for tag in _TAGS)
    return 0.0


class FormatReward:
    name = "format"

    def __init__(self, partial: bool = False) -> None:
        self.partial = bool(partial)

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        return [format_score(c, self.partial) for c in completions]


def _length(text: str, unit: str) -> int:
    if not isinstance(text, str):
        return 0
    return len(text.split()) if unit == "words" else len(text)


class LengthPenalty:
    """`mode="overlong"` (DAPO): 0 up to `max_len - buffer`, then linear down to -1 at
    `max_len`, -1 beyond (`buffer` defaults to max_len / 4). `mode="linear"`: -length/max_len, capped at -1. Lengths are in
    characters or words (a reward sees text, not token ids)."""

    name = "length_penalty"

    def __init__(
        self,
        max_len: int = 4096,
        buffer: int | None = None,
        mode: Literal["overlong", "linear"] = "overlong",
        unit: Literal["chars", "words"] = "chars",
    ) -> None:
        if max_len <= 0:
            raise ValueError(f"length_penalty: max_len must be positive, got {max_len}")
        buffer = max_len // 4 if buffer is None else buffer
        if not 0 <= buffer <= max_len:
            raise ValueError(f"length_penalty: buffer must be in [0, max_len={max_len}], got {buffer}")
        if mode not in ("overlong", "linear"):
            raise ValueError(f"length_penalty: mode must be 'overlong' or 'linear', got {mode!r}")
        if unit not in ("chars", "words"):
            raise ValueError(f"length_penalty: unit must be 'chars' or 'words', got {unit!r}")
        self.max_len, self.buffer, self.mode, self.unit = int(max_len), int(buffer), mode, unit

    def penalty(self, n: int) -> float:
        if self.mode == "linear":
            return -min(1.0, n / self.max_len)
        start = self.max_len - self.buffer
        if n <= start:
            return 0.0
        if n > self.max_len:
            return -1.0
        return (start - n) / self.buffer

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        return [self.penalty(_length(c, self.unit)) for c in completions]


class RepetitionPenalty:
    """`max_penalty * (1 - distinct n-grams / n-grams)` over words: 0 for text without
    repeats, approaching `max_penalty` (negative) for a loop of one phrase."""

    name = "repetition_penalty"

    def __init__(self, ngram: int = 3, max_penalty: float = -1.0) -> None:
        if ngram < 1:
            raise ValueError(f"repetition_penalty: ngram must be >= 1, got {ngram}")
        if max_penalty > 0:
            raise ValueError(f"repetition_penalty: max_penalty must be <= 0, got {max_penalty}")
        self.ngram, self.max_penalty = int(ngram), float(max_penalty)

    def score(self, text: str) -> float:
        words = text.lower().split() if isinstance(text, str) else []
        if len(words) < self.ngram:
            return 0.0
        grams = [tuple(words[i : i + self.ngram]) for i in range(len(words) - self.ngram + 1)]
        return self.max_penalty * (1.0 - len(set(grams)) / len(grams))

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        return [self.score(c) for c in completions]
