"""Completion -> reasoning steps, as character spans of the text and token spans of the ids.

Step rewards must land on the token that ends each step, so segmentation works on the
*sampled* token ids, not on a re-tokenisation of the text (a sampler's ids need not be the
canonical tokenisation of its text). Char offsets come from decoding the ids incrementally
(a small window, as streaming detokenisers do), so a byte-level token that completes a
multi-byte character, or a token that fuses a separator with its neighbour (".\\n", "\\n\\nThe"),
still maps to exact positions.

Modes (`Segmenter.mode`):
- ``think`` (default): the gold-completion format of data_gen (`<think>` step lines
  `</think>` then `<answer>..</answer>`): each non-empty line inside the think block is a
  step and whatever follows `</think>` (the answer) is one final step. Without `</think>`
  (a truncated or free-form completion) every non-empty line is a step.
- ``newline``: every non-empty line.  ``blank_line``: paragraphs separated by empty lines.
- ``step_marker``: a step starts at each ``Step k:`` marker (a preamble before the first
  marker is a step of its own).
- ``regex``: `pattern` is a separator regex (``re.split`` semantics).
- ``token``: `token` is a separator token (e.g. a special ``<step>`` or Math-Shepherd's
  ``ки``). On ids it is matched exactly by id; on text by its literal string.

Steps never include their separators or surrounding whitespace. Token spans are disjoint and
ordered; a token shared by two steps (a fused separator such as ``"3\\nThe"``) goes to the
earlier step, so that step's score sits on a token containing its last character; a step left
with no token of its own is merged into the previous one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewards.types import StepSpan

MODES = ("think", "newline", "blank_line", "step_marker", "regex", "token")
_STEP_MARKER = re.compile(r"(?im)^[ \t]*(?:\*\*)?step[ \t]*\d+[ \t]*(?:\*\*)?[ \t]*[:.)]")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class CharSpan:
    start: int  # character range [start, end) in the completion text
    end: int
    text: str


@dataclass(frozen=True)
class Segmenter:
    """How a completion is cut into steps; see the module docstring for the modes."""

    mode: str = "think"
    pattern: str | None = None  # separator regex, for mode=regex
    token: str | None = None  # separator token text, for mode=token
    max_steps: int = 4096  # more steps than this: the tail is merged into the last step

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"segment.mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "regex":
            if not self.pattern:
                raise ValueError("segment.pattern is required when segment.mode is 'regex'")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"segment.pattern {self.pattern!r} is not a valid regex: {exc}") from None
        if self.mode == "token" and not self.token:
            raise ValueError("segment.token is required when segment.mode is 'token'")
        if self.max_steps < 1:
            raise ValueError(f"segment.max_steps must be >= 1, got {self.max_steps}")

    @classmethod
    def from_config(cls, section: Any) -> Segmenter:
        """Build from any object with mode/pattern/token(/max_steps) attributes (a recipe section)."""
        return cls(
            mode=section.mode,
            pattern=getattr(section, "pattern", None),
            token=getattr(section, "token", None),
            max_steps=getattr(section, "max_steps", 4096),
        )

    # ------------------------------------------------------------------ text

    def split_text(self, text: str) -> list[CharSpan]:
        """Character spans of the steps of `text` (stripped, non-empty, in order)."""
        if self.mode == "think":
            spans = _split_think(text)
        elif self.mode == "newline":
            spans = _split_on(text, re.compile(r"\n"), 0, len(text))
        elif self.mode == "blank_line":
            spans = _split_on(text, re.compile(r"\n[ \t]*\n\s*"), 0, len(text))
        elif self.mode == "step_marker":
            spans = _split_markers(text)
        elif self.mode == "regex":
            spans = _split_on(text, re.compile(self.pattern or ""), 0, len(text))
        else:
            spans = _split_on(text, re.compile(re.escape(self.token or "")), 0, len(text))
        return _cap(text, spans, self.max_steps)

    def split(self, text: str) -> list[str]:
        """Step strings of `text` (what `rewards.steps.first_error` takes)."""
        return [s.text for s in self.split_text(text)]

    # ------------------------------------------------------------------ tokens

    def spans(self, completion_ids: Sequence[int], tokenizer: Any) -> list[StepSpan]:
        """Token spans [start, end) into `completion_ids`, each with its step text."""
        ids = [int(i) for i in completion_ids]
        if not ids:
            return []
        if self.mode == "token":
            sep_id = _single_token_id(tokenizer, self.token or "")
            if sep_id is not None:
                return _split_ids_on(ids, sep_id, tokenizer, self.max_steps)
        text, offsets = token_char_offsets(ids, tokenizer)
        return char_spans_to_token_spans(text, offsets, self.split_text(text))


# ---------------------------------------------------------------------- text splitting


def _strip(text: str, start: int, end: int) -> CharSpan | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return CharSpan(start, end, text[start:end]) if end > start else None


def _split_on(text: str, sep: re.Pattern[str], start: int, end: int) -> list[CharSpan]:
    out: list[CharSpan] = []
    pos = start
    for m in sep.finditer(text, start, end):
        if m.end() == m.start():  # an empty match separates nothing
            continue
        span = _strip(text, pos, m.start())
        if span:
            out.append(span)
        pos = m.end()
    span = _strip(text, pos, end)
    if span:
        out.append(span)
    return out


def _split_think(text: str) -> list[CharSpan]:
    newline = re.compile(r"\n")
    close = text.find(_THINK_CLOSE)
    if close < 0:
        open_at = text.find(_THINK_OPEN)
        begin = open_at + len(_THINK_OPEN) if open_at >= 0 else 0
        return _split_on(text, newline, begin, len(text))
    open_at = text.rfind(_THINK_OPEN, 0, close)
    begin = open_at + len(_THINK_OPEN) if open_at >= 0 else 0
    steps = _split_on(text, newline, begin, close)
    answer = _strip(text, close + len(_THINK_CLOSE), len(text))
    if answer:
        steps.append(answer)
    return steps


def _split_markers(text: str) -> list[CharSpan]:
    starts = [m.start() for m in _STEP_MARKER.finditer(text)]
    bounds = [0, *starts, len(text)] if not starts or starts[0] != 0 else [*starts, len(text)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        span = _strip(text, a, b)
        if span:
            out.append(span)
    return out


def _cap(text: str, spans: list[CharSpan], max_steps: int) -> list[CharSpan]:
    if len(spans) <= max_steps:
        return spans
    last = CharSpan(
        spans[max_steps - 1].start, spans[-1].end, text[spans[max_steps - 1].start : spans[-1].end]
    )
    return [*spans[: max_steps - 1], last]


# ---------------------------------------------------------------------- ids -> chars


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    if not ids:
        return ""
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def token_char_offsets(ids: Sequence[int], tokenizer: Any) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of `ids` and each token's char range in it.

    Decodes a short sliding window (prefix tokens give context for tokenisers that drop a
    leading space) and assigns each newly completed piece of text to the tokens that made
    it (several byte-level tokens can make one character); special tokens get an empty
    range. Linear in the number of tokens.
    """
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    text = ""
    offsets: list[tuple[int, int]] = []
    prefix = read = 0
    for i in range(len(ids)):
        prev = _decode(tokenizer, ids[prefix:read])
        new = _decode(tokenizer, ids[prefix : i + 1])
        if len(new) > len(prev) and not new.endswith("\ufffd") and new.startswith(prev):
            start = len(text)
            text += new[len(prev) :]
            # tokens that only began this piece (bytes of one character) share its range
            offsets.extend(
                (start, start) if ids[j] in special else (start, len(text)) for j in range(read, i)
            )
            offsets.append((start, len(text)))
            prefix, read = read, i + 1
    if read < len(ids):  # trailing incomplete bytes or special tokens
        rest = _decode(tokenizer, ids[prefix:])[len(_decode(tokenizer, ids[prefix:read])) :]
        start = len(text)
        text += rest
        offsets.extend(
            (start, start) if ids[j] in special else (start, len(text)) for j in range(read, len(ids))
        )
    assert len(offsets) == len(ids)
    return text, offsets


def char_spans_to_token_spans(
    text: str, offsets: Sequence[tuple[int, int]], steps: Sequence[CharSpan]
) -> list[StepSpan]:
    """Map char spans to disjoint, non-empty token ranges (see the module docstring)."""
    out: list[StepSpan] = []
    char_start_of: list[int] = []  # step char start, parallel to `out`, for merging
    n = len(offsets)
    tok = 0
    for step in steps:
        while tok < n and offsets[tok][1] <= step.start:  # tokens ending before the step
            tok += 1
        first = tok
        last = first
        while last < n and offsets[last][0] < step.end:
            last += 1
        start = max(first, out[-1].end if out else 0)
        if last > start:
            out.append(StepSpan(start=start, end=last, text=step.text))
            char_start_of.append(step.start)
        elif out:  # no token of its own: merge into the previous step
            a = char_start_of[-1]
            out[-1] = StepSpan(start=out[-1].start, end=max(out[-1].end, last), text=text[a : step.end])
        tok = max(first, last - 1)
    return out


# ---------------------------------------------------------------------- separator token


def _single_token_id(tokenizer: Any, token: str) -> int | None:
    vocab = tokenizer.get_vocab()
    if token in vocab:
        return int(vocab[token])
    ids = tokenizer.encode(token, add_special_tokens=False)
    return int(ids[0]) if len(ids) == 1 else None


def _split_ids_on(ids: list[int], sep_id: int, tokenizer: Any, max_steps: int) -> list[StepSpan]:
    """Exact id-level split: each step ends at (and includes) its separator token."""
    out: list[StepSpan] = []
    start = 0
    for i, tid in enumerate(ids):
        if tid == sep_id or i == len(ids) - 1:
            piece = ids[start:i] if tid == sep_id else ids[start : i + 1]
            text = _decode(tokenizer, piece).strip()
            if text:
                out.append(StepSpan(start=start, end=i + 1, text=text))
            start = i + 1
    if len(out) > max_steps:
        tail = out[max_steps - 1 :]
        merged = StepSpan(tail[0].start, tail[-1].end, "\n".join(s.text for s in tail))
        out = [*out[: max_steps - 1], merged]
    return out


DEFAULT_SEGMENTER = Segmenter()


def split_steps(text: str, mode: str = "think", **kwargs: Any) -> list[str]:
    """Convenience: the step strings of `text` under `mode`."""
    return Segmenter(mode=mode, **kwargs).split(text)


def step_spans(
    completion_ids: Sequence[int], tokenizer: Any, segmenter: Segmenter | None = None
) -> list[StepSpan]:
    """Convenience: token spans of the steps of a sampled completion (default mode `think`)."""
    return (segmenter or DEFAULT_SEGMENTER).spans(completion_ids, tokenizer)


def segment_completion(
    text: str, completion_ids: Sequence[int], tokenizer: Any, segmenter: Segmenter | None = None
) -> list[StepSpan]:
    """What the RL scorer calls for each rollout: token spans from the sampled ids.

    `text` is used only when there are no ids (or no tokenizer): the steps then carry
    empty token ranges (start == end == 0) and can be scored but not placed on tokens.
    """
    seg = segmenter or DEFAULT_SEGMENTER
    if completion_ids and tokenizer is not None:
        return seg.spans(completion_ids, tokenizer)
    return [StepSpan(0, 0, s.text) for s in seg.split_text(text)]
