"""Public process-supervision formats -> stepwise rows (`prompt`, `completions`, `labels`).

- PRM800K (OpenAI): one JSON line per labelled trace; each step offers rated completions
  (-1 bad, 0 neutral, +1 good) and names the one the labeller continued with. A neutral
  rating is ambiguous ("not wrong, not helpful"), so what it becomes is a parameter:
  ``neutral="positive"`` (counts as good, the usual choice for first-error detection),
  ``"negative"``, or ``"drop"`` (skip the whole trace). The trace ends at its first -1 step.
- Math-Shepherd: ``input`` is the question and steps, each step closed by the tag ``ки``;
  ``label`` is the same text with each tag replaced by ``+`` (good) or ``-`` (bad).
- ProcessBench: ``problem``, ``steps``, ``label`` = first wrong step (-1: none). Steps after
  the first wrong one carry no label, so the row stops there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

Neutral = Literal["positive", "negative", "drop"]
NEUTRAL_RULES = ("positive", "negative", "drop")
SHEPHERD_TAG = "ки"


def from_prm800k(row: dict[str, Any], neutral: Neutral = "positive") -> dict[str, Any] | None:
    """One PRM800K line -> a stepwise row, or None (dropped by the neutral rule, or no steps)."""
    if neutral not in NEUTRAL_RULES:
        raise ValueError(f"neutral rule {neutral!r} is not one of {', '.join(NEUTRAL_RULES)}")
    try:
        question = row["question"]["problem"]
        raw_steps = row["label"]["steps"]
    except (KeyError, TypeError):
        raise ValueError("PRM800K row needs question.problem and label.steps") from None
    steps, labels = [], []
    for step in raw_steps:
        chosen = _chosen(step)
        if chosen is None:
            break
        text, rating = chosen
        if rating == 0 or rating is None:
            if neutral == "drop":
                return None
            good = neutral == "positive"
        else:
            good = rating > 0
        steps.append(text)
        labels.append(good)
        if not good and rating == -1:
            break
    return {"prompt": question, "completions": steps, "labels": labels} if steps else None


def _chosen(step: dict[str, Any]) -> tuple[str, int | None] | None:
    completions = step.get("completions") or []
    idx = step.get("chosen_completion")
    if idx is not None and 0 <= idx < len(completions):
        c = completions[idx]
        return c["text"], c.get("rating")
    human = step.get("human_completion")
    if human:
        return (human["text"] if isinstance(human, dict) else str(human)), 1
    bad = [c for c in completions if c.get("rating") == -1]  # the labeller stopped at an error
    if bad:
        return bad[0]["text"], -1
    return None


def from_math_shepherd(row: dict[str, Any], tag: str = SHEPHERD_TAG) -> dict[str, Any]:
    text, tagged = row.get("input"), row.get("label")
    if not isinstance(text, str) or not isinstance(tagged, str):
        raise ValueError("Math-Shepherd row needs string fields 'input' and 'label'")
    pieces = text.split(tag)[:-1]
    if not pieces:
        raise ValueError(f"Math-Shepherd row has no {tag!r} step tags")
    labels, pos = [], 0
    for piece in pieces:
        pos += len(piece)
        mark = tagged[pos : pos + 1]
        if mark not in ("+", "-"):
            raise ValueError(f"Math-Shepherd label has {mark!r} where a step tag (+/-) should be")
        labels.append(mark == "+")
        pos += 1
    first = pieces[0]
    cut = first.find("Step 1:")
    prompt, pieces[0] = (first[:cut], first[cut:]) if cut >= 0 else ("", first)
    steps = [p.strip() for p in pieces]
    return {"prompt": prompt.strip(), "completions": steps, "labels": labels}


def from_processbench(row: dict[str, Any]) -> dict[str, Any]:
    try:
        problem, steps, label = row["problem"], list(row["steps"]), int(row["label"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("ProcessBench row needs problem, steps and an integer label") from None
    if label >= len(steps):
        raise ValueError(f"ProcessBench label {label} is past the last of {len(steps)} steps")
    if label < 0:
        return {"prompt": problem, "completions": steps, "labels": [True] * len(steps)}
    return {"prompt": problem, "completions": steps[: label + 1], "labels": [True] * label + [False]}


def convert(
    rows: Iterable[dict[str, Any]], fmt: str, neutral: Neutral = "positive"
) -> Iterator[dict[str, Any]]:
    """Rows of format `fmt` (stepwise | prm800k | math_shepherd | processbench) as stepwise rows."""
    if fmt not in FORMATS:
        raise ValueError(f"prm.format {fmt!r} is not one of {', '.join(FORMATS)}")
    for row in rows:
        if fmt == "stepwise":
            out = row
        elif fmt == "prm800k":
            out = from_prm800k(row, neutral)
        elif fmt == "math_shepherd":
            out = from_math_shepherd(row)
        else:
            out = from_processbench(row)
        if out is not None:
            yield out


FORMATS = ("stepwise", "prm800k", "math_shepherd", "processbench")
