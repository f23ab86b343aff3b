"""Find the final answer in a completion, or in any text: `answer_of` reads a bare answer
(`3/4`, `x \\in [2, 5)`) as itself and a whole text (a MATH solution, a `<think>` trace, a
GSM8K rationale) as its final answer, so either side of `verify` may be either.

Modes are tried in order; the first that finds something wins (an <answer> tag, once
present, is final even when empty, so a model cannot skip it and be read from its reasoning):
`answer_tag` (the last <answer>...</answer>, our gold completion format), `boxed` (the last
\\boxed{...} / \\fbox{...}, braces balanced), `gsm8k` (the last `#### 72`), `final_answer`
(what follows the last "the (final) answer is" / "answer:"), then the later-ending of
`last_math` (the last $...$, \\(...\\), \\[...\\] span) and `last_number` (the last number).

`last_number` never takes a piece of a mathematical object: the 6 of `\\frac{1}{6}` (the
fraction itself is taken), the 5 of `[2, 5)`, an entry of a matrix or an exponent are not
answers, so such a completion has no answer (unparsable) rather than a wrong one.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence

MODES = ("answer_tag", "boxed", "gsm8k", "final_answer", "last_math", "last_number")

_SEP = r"(?:,|\{,\}|,\\!\s?)"
_NUMBER = re.compile(rf"-?\d{{1,3}}(?:{_SEP}\d{{3}})+(?:\.\d+)?%?|-?\d+(?:\.\d+)?(?:/\d+)?%?|-?\.\d+%?")
_FRAC = re.compile(r"-?\\[dtc]?frac\{[^{}]*\}\{[^{}]*\}|-?\\[dtc]?frac\d\d")
_GSM8K = re.compile(r"####\s*([^\n]+)")
_FINAL = re.compile(r"(?i)\b(?:final\s+)?answer\s*(?:is|:)\s*:?")
_SENTENCE_END = re.compile(r"(?<![\d\\])\.(?:\s|$)|\n")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_TEXT_ARG = re.compile(
    r"\\(?:begin|end)\{\w*\*?\}(?:\{[^{}]*\})?|\\(?:text\w*|mathrm|mbox|operatorname)\{[^{}]*\}|\\[A-Za-z]+"
)
_CONNECTIVES = frozenset({"or", "and"})
_PROSE = frozenset(
    {
        "so",
        "thus",
        "hence",
        "therefore",
        "then",
        "we",
        "get",
        "is",
        "are",
        "gives",
        "equals",
        "the",
        "it",
        "be",
    }
)
MAX_JOINED_BOXES = 20
# Words that mark a later box as a correction of an earlier one, never a second value.
_CORRECTION_WORDS = frozenset(
    [
        "no",
        "not",
        "wait",
        "but",
        "actually",
        "instead",
        "wrong",
        "mistake",
        "oops",
        "correct",
        "correction",
        "corrected",
        "recheck",
        "check",
        "checking",
        "checked",
        "then",
        "after",
        "again",
        "later",
        "redo",
        "however",
        "hmm",
        "sorry",
        "so",
        "therefore",
        "thus",
        "hence",
        "final",
        "finally",
        "rather",
        "than",
    ]
)
_SPAN_LIST = re.compile(r"\s*\$[^$]+\$(?:\s*(?:,|\band\b|\bor\b)\s*\$[^$]+\$)+\s*")
_GROUPS = (("boxed", "gsm8k", "final_answer"), ("last_math", "last_number"))
_GAP_NOISE = re.compile(
    r"[A-Za-z](?:_\{?\w+\}?)?\s*=|\\q?quad|\\text\{([^{}]*)\}|\$|\\[()\[\]]|\\[,;!: ]|&|\\\\|\."
)
_PART_OF_OBJECT_AFTER = re.compile(r"\s*(?:[}\])&^_]|\\\\|\\end|\\right|\{,\})")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, with nested braces balanced."""
    found = _last_boxed(text)
    return found[1] if found else None


def _boxed_run(text: str) -> tuple[int, str] | None:
    """The last box, joined with the boxes before it when only connectives separate them:
    `\\boxed{1} and \\boxed{2}` is `1, 2`, `\\boxed{1} or \\boxed{2}` the hedge `1 or 2`, but
    `\\boxed{1} no no no \\boxed{2}` is `2` (the earlier box was abandoned)."""
    last = _last_boxed(text)
    if last is None:
        return None
    parts, end = [last[1]], last[0]
    start = max(text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end))
    joiner = ", "
    for _ in range(MAX_JOINED_BOXES):
        prev = _last_boxed(text[:start])
        if prev is None:
            break
        raw = text[prev[0] : start]
        gap = _GAP_NOISE.sub(lambda m: f" {m.group(1) or ''} ", raw)
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", gap)}
        plain = words <= {"and", "or"} and not re.search(r"[^\s,;A-Za-z]", gap)
        if not plain and not _labelled_gap(raw, words, prev[1], parts[0]):
            break
        joiner = " or " if "or" in words else joiner
        parts.insert(0, prev[1])
        start = max(text.rfind("\\boxed", 0, prev[0]), text.rfind("\\fbox", 0, prev[0]))
    return end, joiner.join(p.strip() for p in parts)


def _labelled_gap(raw: str, words: set[str], before: str, after: str) -> bool:
    """Two boxes still read as one answer: a short gap of punctuation alone (`\\boxed{35} ++
    \\boxed{4}`), or a short labelled list (`\\boxed{1} papers and \\boxed{2} bins`,
    `\\boxed{(3,3)} for part (a) and \\boxed{(1,1)}`) with no word of a correction in it
    (`\\boxed{1} no, wait: \\boxed{2}` stays the last box)."""
    if before.strip() == after.strip() or words & _CORRECTION_WORDS:
        return False
    if not words and len(raw) < 10:
        return True
    return len(raw) < 70 and ("and" in words or "," in raw)


def _last_boxed(text: str) -> tuple[int, str] | None:
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0 or text[start:i].strip() not in ("\\boxed", "\\fbox"):
        # \boxed 5 (no braces): take the next token
        m = re.match(r"\\(?:boxed|fbox)\s+([^\s$]+)", text[start:])
        return (start + m.end(), m.group(1)) if m else None
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j + 1, text[i + 1 : j]
    return None  # unbalanced: no answer rather than a truncated one


def extract_answer(completion: str, modes: Sequence[str] = MODES) -> str | None:
    if not isinstance(completion, str) or not completion.strip():
        return None
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown extraction mode(s) {bad}; valid: {', '.join(MODES)}")
    done: set[str] = set()
    for mode in modes:
        if mode in done:
            continue
        if mode == "answer_tag":
            found = _answer_tag(completion)
            if found is not None:
                return found[1].strip() or None  # a present answer tag is final, even when empty
            continue
        # within a group the candidate that ends last wins: a box, then "the final answer is
        # $10,455$"; "the largest $n$ is 34" is 34; "so $x = 3$" is x = 3
        group = [m for m in modes if m in next(g for g in _GROUPS if mode in g)]
        done.update(group)
        cands = [f for f in (_FINDERS[m](completion) for m in group) if f and f[1].strip()]
        if cands:
            return max(cands, key=lambda c: c[0])[1].strip()
    return None


def answer_of(text: str) -> str | None:
    """The answer a text states: the text itself when it is a bare answer, else what
    `extract_answer` finds (with every mode); a short single line with nothing extractable
    is read as a bare answer (`i don't know`, `New York`)."""
    if not isinstance(text, str) or not text.strip():
        return None
    t = text.strip()
    if is_bare_answer(t):
        return t
    spans = _span_list(t)
    if spans is not None:
        return spans
    found = extract_answer(t)
    if found is None and "\n" not in t and len(t) <= 100 and not _has_anchor(t) and not re.search(r"\d", t):
        return t  # `New York`; a line with digits has had its number looked for
    return found


def _span_list(text: str) -> str | None:
    """`$1$ and $2$ and $3$` (quoted or not): one answer of several values, or None."""
    t = text.strip().rstrip(".").strip("\\\"'\u201c\u201d")  # quoted: "$12$ and $13$"
    if not _SPAN_LIST.fullmatch(t):
        return None
    joiner = " or " if re.search(r"\bor\b", t) else ", "
    return joiner.join(x.strip() for x in re.findall(r"\$([^$]+)\$", t))


def is_bare_answer(text: str) -> bool:
    """No tag, box, anchor or inner math delimiter, and at most one prose word (connectives
    such as `or` apart): `12 cm`, `x = 8 or x = -9`, `\\text{Evelyn}`, `$\\frac{1}{2}$`."""
    if _has_anchor(text):
        return False
    inner = _strip_wrapper(text)
    if re.search(r"(?<!\\)\$|\\\(|\\\[", inner):
        return False
    words = [
        w
        for w in _WORD.findall(_TEXT_ARG.sub(" ", inner))
        if w.lower() not in _CONNECTIVES and not (w.isupper() and len(w) <= 3)  # AB, CD: labels
    ]
    return len(words) == 0 or (len(words) == 1 and words[0].lower() not in _PROSE)


def _has_anchor(text: str) -> bool:
    return bool(re.search(r"<answer>|\\boxed|\\fbox|####|(?i:\banswer\b)", text))


def _strip_wrapper(text: str) -> str:
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            return text[len(left) : -len(right)].strip()
    return text


def last_tagged(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>") -> str | None:
    """Content of the last open_tag...close_tag pair, found with two reverse searches (linear
    time even on megabytes of unclosed tags, where a lazy regex would be quadratic)."""
    end = text.rfind(close_tag)
    if end < 0:
        return None
    start = text.rfind(open_tag, 0, end)
    return None if start < 0 else text[start + len(open_tag) : end]


def _answer_tag(text: str) -> tuple[int, str] | None:
    inner = last_tagged(text)
    if inner is None:
        return None
    boxed = last_boxed(inner)
    return len(text), boxed if boxed is not None else inner


def _gsm8k(text: str) -> tuple[int, str] | None:
    i = text.rfind("####")
    if i < 0:
        return None
    m = _GSM8K.match(text, i)
    return (m.end(), m.group(1).strip()) if m else None


def _final_answer(text: str) -> tuple[int, str] | None:
    """What follows the last 'the final answer is' / 'answer:' up to the end of its sentence."""
    found = deque(_FINAL.finditer(text[-20_000:]), maxlen=1)
    if not found:
        return None
    last = found[0]
    offset = max(0, len(text) - 20_000)
    rest = text[offset + last.end() :]
    stop = _SENTENCE_END.search(rest)
    segment = (rest[: stop.start()] if stop else rest).strip().rstrip(".")
    if not segment:
        return None
    spans = _span_list(segment)
    if spans is not None:
        segment = spans
    elif not is_bare_answer(segment):
        found = extract_answer(segment, ("boxed", "last_math", "last_number"))
        if found is None:
            return None
        segment = found
    return offset + last.end(), segment


def _last_math(text: str) -> tuple[int, str] | None:
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
    return best


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


def _last_number(text: str) -> tuple[int, str] | None:
    found = deque(_NUMBER.finditer(text[-20_000:]), maxlen=1)
    if not found:
        return None
    last = found[0]
    offset = max(0, len(text) - 20_000)
    start, end = offset + last.start(), offset + last.end()
    for frac in _FRAC.finditer(text, max(0, start - 200), min(len(text), end + 200)):
        if frac.start() <= start and end <= frac.end():
            return frac.end(), frac.group(0)  # the number is part of a fraction: take the fraction
    before = text[max(0, start - 1) : start]
    if before in ("{", "^", "_", "\\", "&") or _PART_OF_OBJECT_AFTER.match(text, end):
        return None  # an entry of an interval, matrix, exponent...: not an answer
    if text.count("(", 0, start) + text.count("[", 0, start) > text.count(")", 0, start) + text.count(
        "]", 0, start
    ) and re.match(r"\s*,", text[end:]):
        return None  # first coordinate of an open tuple or interval
    return end, last.group(0)


_FINDERS: dict[str, Callable[[str], tuple[int, str] | None]] = {
    "answer_tag": _answer_tag,
    "boxed": _boxed_run,
    "gsm8k": _gsm8k,
    "final_answer": _final_answer,
    "last_math": _last_math,
    "last_number": _last_number,
}
