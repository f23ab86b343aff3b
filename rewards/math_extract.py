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

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_MATH_SPANS = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)
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


def _answer_tag(text: str) -> str | None:
    found = _ANSWER.findall(text)
    if not found:
        return None
    inner = found[-1]
    boxed = last_boxed(inner)
    return boxed if boxed is not None else inner


def _last_math(text: str) -> str | None:
    spans = [next(g for g in m.groups() if g is not None) for m in _MATH_SPANS.finditer(text)]
    return spans[-1] if spans else None


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1] if found else None


_FINDERS = {"answer_tag": _answer_tag, "boxed": last_boxed, "last_math": _last_math, "last_number": _last_number}
