"""ProcessBench-style evaluation: locate the first wrong step of flawed and clean traces.

A trace's predicted first error is its first step scored below `threshold` (-1: none).
Accuracy is measured separately on flawed traces (label >= 0: the prediction must be the
exact step) and clean ones (label -1: no alarm); F1 is their harmonic mean, as in ProcessBench.
`calibrate_threshold` picks the threshold with the best F1 on validation traces (never on the
traces the result is reported on).
"""

from __future__ import annotations

from collections.abc import Sequence


def predicted_first_error(scores: Sequence[float | None], threshold: float = 0.5) -> int:
    for i, s in enumerate(scores):
        if s is not None and s < threshold:
            return i
    return -1


def processbench_f1(predicted: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    if len(predicted) != len(labels):
        raise ValueError(f"{len(predicted)} predictions for {len(labels)} labels")
    err = [p == y for p, y in zip(predicted, labels) if y >= 0]
    ok = [p == y for p, y in zip(predicted, labels) if y < 0]
    acc_err = sum(err) / len(err) if err else float("nan")
    acc_ok = sum(ok) / len(ok) if ok else float("nan")
    f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok) if err and ok and (acc_err + acc_ok) > 0 else 0.0
    return {"error_acc": acc_err, "correct_acc": acc_ok, "f1": f1, "n_error": len(err), "n_correct": len(ok)}


GRID = tuple(round(0.02 * i, 2) for i in range(1, 50))  # 0.02 .. 0.98


def calibrate_threshold(
    scores: Sequence[Sequence[float | None]], labels: Sequence[int], grid: Sequence[float] = GRID
) -> tuple[float, float]:
    """(threshold, F1) maximising F1 on these traces; ties go to the threshold nearest 0.5."""
    if not scores or len(scores) != len(labels):
        raise ValueError(
            f"calibration needs scores for every trace ({len(scores)} scores, {len(labels)} labels)"
        )

    def f1(t: float) -> float:
        return processbench_f1([predicted_first_error(s, t) for s in scores], labels)["f1"]

    best = max(grid, key=lambda t: (f1(t), -abs(t - 0.5)))
    return best, f1(best)
