"""Answer forms read as strings before any parser sees them: hedged answers, labelled
answers and ratios.

- A hedge ("100 or 200") names several candidates for one value: it is never accepted for a
  gold that is one value, whichever candidate is right (math-verify reads the last one).
- A label ("(p,q) = (3,2)", "|AB| = 1", "AB = 4, CD = 5", "V_1:V_2 = 11:21") names what
  the value is; against a gold that is not itself a relation, the value alone is compared.
- A ratio or a time ("11:21", "12:00") is a tuple of its parts, so "1:00" is not "12:00"
  (a parser that reads `:` as division makes both 1/0).
"""

from __future__ import annotations

import re

_OR = re.compile(r"\s+(?:\\text\{\s*or\s*\}|or)\s+|\\text\{\s+or\s+\}", re.I)
_RELATION = re.compile(r"=|<|>|\\[lg]e(?:q)?\b|\\[lg]t\b|\\ne(?:q)?\b|\\in\b|≤|≥|≠|\\approx")
_MULTI_VALUE = re.compile(r",|\bor\b|\band\b|\\cup|\\pm|\\mp|±")


def split_top(s: str, sep: re.Pattern[str]) -> list[str]:
    """Split `s` on `sep` outside brackets and braces."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = sep.match(s, i)
            if m and m.end() > i:
                parts.append(s[start:i])
                start = i = m.end()
                continue
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def is_hedged(answer: str, gold: str) -> bool:
    """Two or more different candidates joined by `or`, for a gold that is one value."""
    if _MULTI_VALUE.search(gold):
        return False
    parts = [p for p in split_top(answer, _OR) if p]
    return len(parts) >= 2 and len({re.sub(r"\s+", "", p) for p in parts}) >= 2


def strip_labels(pred: str, gold: str) -> str:
    """`label = value` parts of `pred` -> their values, when the gold is not a relation."""
    if _RELATION.search(gold) or "=" not in pred:
        return pred
    parts = split_top(pred, re.compile(r","))
    values = []
    for part in parts:
        sides = split_top(part, re.compile(r"="))
        if len(sides) != 2 or not is_label(sides[0]) or not sides[1] or _RELATION.search(sides[1]):
            return pred
        values.append(sides[1])
    return ", ".join(values)


def is_label(s: str) -> bool:
    """A name for a value (`x`, `|AB|`, `(p,q)`, `V_{1}:V_{2}`, `f(3)`), not an expression
    (`7`, `2x + z`): no operator, and no digit outside subscripts and arguments."""
    bare = re.sub(r"_\{[^{}]*\}|_\w|\([^()]*\)", "", s)
    return bool(s) and not re.search(r"[-+*/^\d]|\\(?:frac|sqrt|cdot|times)", bare)


def bare_list_as_tuple(gold: str, pred: str) -> tuple[str, str]:
    """`1, 3` against the point `(1, 3)` is that point, in that order (either side)."""

    def point(s: str) -> bool:
        return s.startswith("(") and s.endswith(")") and len(split_top(s[1:-1], re.compile(r","))) >= 2

    def bare(s: str) -> bool:
        return "," in s and not re.match(r"^[\[({]|^\\\{", s) and len(split_top(s, re.compile(r","))) >= 2

    if point(gold) and bare(pred) and not _RELATION.search(pred):
        return gold, f"({pred})"
    if point(pred) and bare(gold) and not _RELATION.search(gold):
        return f"({gold})", pred
    return gold, pred


def ratio_as_tuple(s: str) -> str:
    """`a:b(:c)` -> `(a, b(, c))` when every part is non-empty and `:` is the only relation."""
    if ":" not in s or "\\colon" in s or _RELATION.search(s):
        return s
    parts = split_top(s, re.compile(r":"))
    if len(parts) < 2 or not all(parts):
        return s
    return "(" + ", ".join(parts) + ")"


def strip_gold_labels(gold: str, pred: str) -> tuple[str, str]:
    """A gold of two or more `label = value` parts against a bare list of values: both as
    tuples in written order (`x = -5, p = 14/3` is `(-5, 14/3)`, so `14/3, -5` is wrong)."""
    if _RELATION.search(pred) or "=" not in gold:
        return gold, pred
    values = strip_labels(gold, "")
    if values == gold or "," not in values:
        return gold, pred
    bare_list = "," in pred and not re.match(r"^[(\[]", pred.strip())
    return f"({values})", f"({pred})" if bare_list else pred
