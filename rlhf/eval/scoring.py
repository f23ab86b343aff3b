"""How an evaluation scores a completion: `exact_match` or any registered outcome reward.

One scorer type for every evaluation (`cotrl eval --metric`, the SFT trainer's held-out
curve through `sft.eval_metric`): `scorer(problems, completions) -> list[float | None]`,
the `rewards.base.Reward` signature, so `exact_match` is simply one more name beside the
verifiers in `rewards.registry.REWARDS`. None means "could not be checked" (not the
completion's fault), and the evaluator counts it as not correct.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence

from rewards.types import Problem
from rlhf.data.readers import extract_answer

Scorer = Callable[[Sequence[Problem], Sequence[str]], list[float | None]]

EXACT_MATCH = "exact_match"
FORMAT_RE = re.compile(r"^\s*<think>.*</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


def answers_match(predicted: str, reference: str) -> bool:
    """Exact match after whitespace normalisation; numbers (incl. a/b) compare by value."""
    a, b = " ".join(predicted.split()), " ".join(reference.split())
    if a == b:
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


def _number(text: str) -> float | None:
    t = text.replace(",", "").strip()
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den)
        return float(t)
    except (ValueError, ZeroDivisionError):
        return None


class ExactMatch:
    """1.0 when the last `<answer>` span (else the whole completion) equals `problem.answer`.

    For rows with no verifier behind them (chat or prompt/completion data), where the
    reference is itself the `<answer>` span, or the whole text, of the gold completion.
    """

    name = EXACT_MATCH

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        return [float(answers_match(extract_answer(c), p.answer)) for p, c in zip(problems, completions)]


def scorer_factory(metric: str) -> Callable[[], Scorer]:
    """The factory behind a metric name; resolving it checks the name without building anything."""
    if metric == EXACT_MATCH:
        return ExactMatch
    from rewards.registry import REWARDS

    try:
        return REWARDS.get(metric)
    except ValueError as exc:
        hint = " (did you mean 'exact_match'?)" if difflib.get_close_matches(metric, [EXACT_MATCH]) else ""
        raise ValueError(f"{exc} (or {EXACT_MATCH!r}){hint}") from None


def make_scorer(metric: str) -> Scorer:
    """`exact_match` or a `rewards.registry.REWARDS` name (built with its default parameters)."""
    return scorer_factory(metric)()


def format_rate(completions: Sequence[str]) -> float:
    """Share of completions shaped `<think>..</think><answer>..</answer>` and nothing else."""
    return sum(bool(FORMAT_RE.match(c)) for c in completions) / len(completions) if completions else math.nan
