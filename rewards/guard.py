"""Call a reward so that its faults cost only its own scores, never the run.

A reward is user code (or a sandbox, or a worker pool) and can crash, hang, or hand back
garbage. `guarded_call` runs it in a daemon thread with a deadline and checks what comes
back: an exception, a timeout, a result that is not a list of the right length, or an item
that is not a finite number (NaN, inf or past float32's range, a string, a list) becomes
None for the samples it touches, plus a fault label per sample so a trainer can count and
report them. None from the reward itself is a normal "unverifiable" verdict, not a fault.

A hung reward's thread cannot be killed from Python; it is abandoned (a daemon thread does
not keep the process alive) and the next call starts afresh. Rewards that run untrusted
code kill their own subprocesses at their own deadlines (`rewards.code.verify`, `rewards.math.pool`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FLOAT32_MAX = 3.4028234663852886e38
FAULTS = ("error", "timeout", "bad_length", "bad_type", "non_finite")


@dataclass(frozen=True)
class Guarded:
    scores: list[float | None]  # one per input; None: masked (unverifiable or faulted)
    faults: list[str | None]  # one per input: a FAULTS label, or None when the score is the reward's own
    detail: str = ""  # the first fault's description, for a log line


def guarded_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    n: int,
    timeout_s: float | None,
    check: Callable[[Any, int], Guarded] | None = None,
) -> Guarded:
    """`fn(*args)` expected to return `n` scores (validated by `check`, default `check_scores`);
    faults masked. `timeout_s` None: no deadline."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - every failure of user code is a fault here
            box["error"] = exc

    if timeout_s is None:
        target()
    else:
        worker = threading.Thread(target=target, name="cotrl-reward", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            return _masked(check, n, "timeout", f"no result after {timeout_s:g}s")
    if "error" in box:
        exc = box["error"]
        return _masked(check, n, "error", f"{type(exc).__name__}: {exc}")
    return (check or check_scores)(box.get("value"), n)


def check_scores(value: Any, n: int) -> Guarded:
    """Validate a reward's return value: a sequence of n items, each None or a finite number."""
    bad = check_scores_shape(value, n)
    if bad is not None:
        return bad
    items = list(value)
    scores: list[float | None] = []
    faults: list[str | None] = []
    detail = ""
    for item in items:
        score, fault = _one(item)
        scores.append(score)
        faults.append(fault)
        if fault and not detail:
            detail = f"item {item!r:.60} ({fault})"
    return Guarded(scores, faults, detail)


def check_step_rows(lengths: Sequence[int]) -> Callable[[Any, int], Guarded]:
    """A `check` for step rewards: one row per completion, `lengths[i]` scores in row i.

    `Guarded.scores` then holds the rows (lists), and a completion's fault is its row's first.
    """

    def check(value: Any, n: int) -> Guarded:
        outer = check_scores_shape(value, n)
        if outer is not None:
            return Guarded([[None] * k for k in lengths], outer.faults, outer.detail)  # type: ignore[misc]
        rows, faults, detail = [], [], ""
        for row, k in zip(value, lengths):
            got = check_scores(row, k)
            rows.append(got.scores)
            faults.append(next((f for f in got.faults if f), None))
            detail = detail or got.detail
        return Guarded(rows, faults, detail)  # type: ignore[arg-type]

    check.masked = [[None] * k for k in lengths]  # type: ignore[attr-defined]  # what a failed call scores
    return check


def check_scores_shape(value: Any, n: int) -> Guarded | None:
    """None when `value` is a sequence of n items, else the all-faulted verdict."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not _is_iterable_array(value):
        return _all(n, "bad_type", f"returned {type(value).__name__}, not a list of scores")
    if len(value) != n:
        return _all(n, "bad_length", f"returned {len(value)} scores for {n} completions")
    return None


def _one(item: Any) -> tuple[float | None, str | None]:
    if item is None:
        return None, None
    if isinstance(item, (str, bytes)) or not hasattr(item, "__float__"):
        return None, "bad_type"
    try:
        value = float(item)
    except (TypeError, ValueError):
        return None, "bad_type"
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:  # the batch holds rewards in float32
        return None, "non_finite"
    return value, None


def _is_iterable_array(value: Any) -> bool:
    return hasattr(value, "__len__") and hasattr(value, "__iter__") and hasattr(value, "shape")


def _masked(check: Any, n: int, fault: str, detail: str) -> Guarded:
    """Every sample masked, in the shape `check` produces (flat scores, or step rows)."""
    masked = getattr(check, "masked", None)
    scores = [list(r) for r in masked] if masked else [None] * n
    return Guarded(scores, [fault] * n, detail)  # type: ignore[arg-type]


def _all(n: int, fault: str, detail: str) -> Guarded:
    return Guarded([None] * n, [fault] * n, detail)
