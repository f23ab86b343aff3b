"""Pure metrics for `cotrl eval`: pass@k, maj@k, and their aggregation over problems.

pass@k uses the unbiased estimator of Chen et al. (2021): with n samples of which c are
correct, pass@k = 1 - C(n-c, k) / C(n, k), computed as a stable product.
maj@k takes the most common extracted answer among the first k samples (ties broken by
first occurrence) and scores it against the gold answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n is correct."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def majority_answer(answers: Sequence[str | None]) -> str | None:
    """Most common non-empty answer; ties go to the one seen first."""
    seen = [a for a in answers if a]
    if not seen:
        return None
    counts = Counter(seen)
    best = max(counts.values())
    return next(a for a in seen if counts[a] == best)


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool], k: int) -> bool:
    """Whether the majority answer among the first k samples is a correct one.

    `correct[i]` says whether `answers[i]` was verified correct; the majority answer is
    correct when any sample carrying that same answer string was verified correct.
    """
    if len(answers) != len(correct):
        raise ValueError(f"maj_at_k: {len(answers)} answers but {len(correct)} verdicts")
    if not 1 <= k <= len(answers):
        raise ValueError(f"maj_at_k: need 1 <= k <= {len(answers)}, got {k}")
    top = majority_answer(answers[:k])
    return top is not None and any(a == top and ok for a, ok in zip(answers[:k], correct[:k]))
