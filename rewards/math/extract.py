"""Find the final answer in a completion.

Modes are tried in order; the first that finds something wins (an <answer> tag, once
present, is final even when empty, so a model cannot skip it and be read from its reasoning):
`answer_tag` (the last <answer>...</answer>, our gold completion format), `boxed` (the last
\\boxed{...} / \\fbox{...}, braces balanced), `last_math` (the last $...$, \\(...\\), \\[...\\]
span), `last_number` (the last number in the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MODES = ("answer_tag", "boxed", "last_math", "last_number")

_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, with nested braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        # \boxed 5 (no braces): take the next token
        m = re.match(r"\\(?:boxed|fbox)\s+(\S+)", text[start:])
        return m.group(1) if m else None
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced: no answer rather than a truncated one


def extract_answer(completion: str, modes: Sequence[str] = MODES) -> str | None:
    if not isinstance(completion, str) or not completion.strip():
        return None
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown extraction mode(s) {bad}; valid: {', '.join(MODES)}")
    for mode in modes:
        found = _FINDERS[mode](completion)
        if mode == "answer_tag" and found is not None:
            return found.strip() or None  # a present answer tag is final, even when empty
        if found is not None and found.strip():
            return found.strip()
    return None


def last_tagged(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>") -> str | None:
    """Content of the last open_tag...close_tag pair, found with two reverse searches (linear
    time even on megabytes of unclosed tags, where a lazy regex would be quadratic)."""
    end = text.rfind(close_tag)
    if end < 0:
        return None
    start = text.rfind(open_tag, 0, end)
    return None if start < 0 else text[start + len(open_tag) : end]


def _answer_tag(text: str) -> str | None:
    inner = last_tagged(text)
    if inner is None:
        return None
    boxed = last_boxed(inner)
    return boxed if boxed is not None else inner


def _last_math(text: str) -> str | None:
    """The math span that ends last: $$..$$, \\[..\\], \\(..\\) or $..$ (reverse searches, linear)."""
    best: tuple[int, str] | None = None
    for open_d, close_d in (("\\[", "\\]"), ("\\(", "\\)"), ("$$", "$$")):
        end = text.rfind(close_d)
        start = text.rfind(open_d, 0, end) if end >= 0 else -1
        if start >= 0 and end > start + len(open_d) and (best is None or end > best[0]):
            best = (end, text[start + len(open_d) : end])
    dollars = [i for i in _unescaped_dollars(text)]
    if len(dollars) >= 2 and (best is None or dollars[-1] > best[0]):
        inner = text[dollars[-2] + 1 : dollars[-1]]
        if inner.strip():
            best = (dollars[-1], inner)
    return best[1] if best else None


def _unescaped_dollars(text: str) -> list[int]:
    """Positions of single `$` (not `\\$`, not part of `$$`), at most the last two."""
    out: list[int] = []
    i = len(text)
    while len(out) < 2:
        i = text.rfind("$", 0, i)
        if i < 0:
            break
        double = (i > 0 and text[i - 1] == "$") or (i + 1 < len(text) and text[i + 1] == "$")
        if not double and not (i > 0 and text[i - 1] == "\\"):
            out.append(i)
    return out[::-1]


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1] if found else None


_FINDERS = {
    "answer_tag": _answer_tag,
    "boxed": last_boxed,
    "last_math": _last_math,
    "last_number": _last_number,
}
