"""Math answer verification: `verify(gold, pred) -> Verdict`, `verify_batch`, and the
`math_answer` reward.

Two layers. The cheap one (`rewards.math.normalize`) runs in the caller: normalised string
equality, exact numbers (Fractions), text answers, pre-checks that refuse pathological input.
Only what it cannot decide goes to the expensive one (`rewards.math.equiv`, sympy) in a
persistent worker process that is killed at the deadline (`rewards.math.pool`), so a
verification never outlives `timeout_s`, from any thread.

Statuses: correct, incorrect, unparsable (the prediction cannot be read or was refused),
timeout, error (the gold cannot be read, or a worker died: not the prediction's fault).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rewards.math.extract import MODES, answer_of, extract_answer
from rewards.math.forms import bare_list_as_tuple, is_hedged, ratio_as_tuple, strip_gold_labels, strip_labels
from rewards.math.normalize import (
    MAX_CHARS,
    looks_mathy,
    normalize,
    numbers_equal,
    parse_number,
    plain_text,
    precheck,
)
from rewards.math.pool import WorkerPool, default_pool
from rewards.types import Problem

__all__ = ["Verdict", "verify", "verify_batch", "extract_answer", "MathAnswerReward", "STATUSES"]

STATUSES = ("correct", "incorrect", "unparsable", "timeout", "error")
_ASSIGN = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*([^=<>]+)$")
_LATEX_SPAN = re.compile(r"\$\$(.+?)\$\$|\\\((.+?)\\\)|\\\[(.+?)\\\]|\$(.+?)\$", re.S)
_ASCII_SPAN = re.compile(r"[\w.]*[\w)]\s*[-+*/^]\s*[\w(.][\w\s.+\-*/^()]*")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    status: str  # one of STATUSES
    detail: str = ""
    path: str = ""  # which layer decided: string, numeric, text, precheck, symbolic
    latency_s: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    verdict: Verdict | None  # decided cheaply
    payload: dict[str, Any] | None  # else: the request for a worker


def _prepare(
    gold: str, pred: str | None, rel_tol: float, question: str | None, abs_tol: float = 0.0
) -> _Prepared:
    def done(correct: bool, status: str, detail: str, path: str) -> _Prepared:
        return _Prepared(Verdict(correct, status, detail, path), None)

    if not isinstance(gold, str) or not gold.strip():
        return done(False, "error", "empty gold answer", "string")
    if not isinstance(pred, str) or not pred.strip():
        return done(False, "unparsable", "no answer", "string")
    gold_ans, pred_ans = answer_of(gold), answer_of(pred)  # linear time, even on megabytes
    if gold_ans is None:
        return done(False, "error", "no answer found in the gold text", "string")
    if pred_ans is None:
        return done(False, "unparsable", "no answer found", "string")
    if len(pred_ans) > 4 * MAX_CHARS:  # before normalising: refuse megabytes in linear time
        return done(
            False, "unparsable", f"refused: answer longer than {4 * MAX_CHARS} characters", "precheck"
        )
    g, p = normalize(gold_ans), normalize(pred_ans)
    if not p:
        return done(False, "unparsable", "empty answer after normalisation", "string")
    if is_hedged(p, g):
        return done(False, "incorrect", "hedged: several candidate answers", "string")
    g, p = bare_list_as_tuple(*strip_gold_labels(g, p))
    g, p = ratio_as_tuple(strip_labels(g, p)), ratio_as_tuple(strip_labels(p, g))
    if g == p:
        return done(True, "correct", "same normalised text", "string")
    refused = precheck(p)
    if refused:
        return done(False, "unparsable", f"refused: {refused}", "precheck")
    g_val, p_val = _assignment_value(g), _assignment_value(p)
    gn, pn = parse_number(g_val), parse_number(p_val)
    if gn is not None and pn is not None:
        ok = numbers_equal(gn, pn, rel_tol, abs_tol)
        return done(ok, "correct" if ok else "incorrect", "numbers compared exactly", "numeric")
    gt = plain_text(g)
    if gt is not None:
        pt = plain_text(p)
        ok = pt == gt
        return done(ok, "correct" if ok else "incorrect", "text compared", "text")
    if gn is not None and not looks_mathy(p):
        return done(False, "incorrect", "a number was expected", "numeric")
    spans: tuple[str, ...] = ()
    if question:
        compact_p = re.sub(r"\s+", "", p)
        restates = pn is None and len(compact_p) >= 3 and re.search(r"[-+*/^]|\\frac", compact_p)
        if restates and compact_p != re.sub(r"\s+", "", g) and compact_p in re.sub(r"\s+", "", question):
            return done(False, "incorrect", "the answer restates the question's expression", "string")
        spans = question_spans(question)
    if precheck(g):
        return done(False, "error", f"gold refused: {precheck(g)}", "precheck")
    return _Prepared(
        None, {"gold": g, "pred": p, "rel_tol": rel_tol, "abs_tol": abs_tol, "question_spans": list(spans)}
    )


def _assignment_value(s: str) -> str:
    """`x = 4` -> `4` when the right side is a plain number (kept otherwise)."""
    m = _ASSIGN.match(s)
    if m and parse_number(m.group(1).strip()) is not None:
        return m.group(1).strip()
    return s


def question_spans(question: str, limit: int = 6) -> tuple[str, ...]:
    """Math in a question (LaTeX spans, else ASCII runs with an operator) for the restatement check."""
    spans = [next(g for g in m.groups() if g) for m in _LATEX_SPAN.finditer(question)]
    if not spans:
        spans = [m.group(0).strip() for m in _ASCII_SPAN.finditer(question)]
    return tuple(s for s in spans if len(s) <= 300)[:limit]


def _finish(prep: _Prepared, pool: WorkerPool | None, timeout_s: float, t0: float) -> Verdict:
    if prep.verdict is not None:
        v = prep.verdict
    else:
        assert prep.payload is not None
        try:
            res = (pool or default_pool()).run(prep.payload, timeout_s)
        except (OSError, RuntimeError) as exc:  # no worker could be started: not the prediction's fault
            res = {"status": "error", "correct": False, "detail": f"verification pool failed: {exc}"}
        status = res.get("status", "error")
        v = Verdict(
            bool(res.get("correct")) and status == "correct",
            status if status in STATUSES else "error",
            str(res.get("detail", ""))[:300],
            "symbolic",
        )
    return Verdict(v.correct, v.status, v.detail, v.path, time.perf_counter() - t0)


def verify(
    gold: str,
    pred: str | None,
    *,
    rel_tol: float = 1e-9,
    timeout_s: float = 5.0,
    question: str | None = None,
    pool: WorkerPool | None = None,
    abs_tol: float = 0.0,
) -> Verdict:
    """Is the answer in `pred` equivalent to the answer in `gold`? Never raises on bad input.

    Either side may be a bare answer (`3/4`) or a whole text (a solution, a `<think>` trace):
    both are read with `answer_of` (answer tag, last box, `####`, "the answer is", last math
    span, last number). The order matters only for statuses: a gold that cannot be read is
    an `error` (not the prediction's fault), a prediction that cannot be read `unparsable`.

    `rel_tol` applies when a decimal is involved (exact numbers compare exactly); `abs_tol`
    (0: off) accepts numbers within that absolute distance, e.g. a task's rounding;
    `question`, when given, rejects answers that only restate the question's expression.
    """
    t0 = time.perf_counter()
    try:
        prep = _prepare(gold, pred, rel_tol, question, abs_tol)
    except Exception as exc:  # noqa: BLE001 - a verifier bug must not kill a training run
        return Verdict(False, "error", f"{type(exc).__name__}: {exc}", "string", time.perf_counter() - t0)
    return _finish(prep, pool, timeout_s, t0)


def verify_batch(
    golds: Sequence[str],
    preds: Sequence[str | None],
    *,
    rel_tol: float = 1e-9,
    timeout_s: float = 5.0,
    questions: Sequence[str | None] | None = None,
    pool: WorkerPool | None = None,
    abs_tols: Sequence[float] | None = None,
) -> list[Verdict]:
    """`verify` for many pairs: cheap cases inline, the rest spread over the worker pool."""
    if len(golds) != len(preds):
        raise ValueError(f"verify_batch: {len(golds)} golds but {len(preds)} predictions")
    qs = list(questions) if questions is not None else [None] * len(golds)
    tols = list(abs_tols) if abs_tols is not None else [0.0] * len(golds)
    t0 = [time.perf_counter()] * len(golds)
    preps: list[_Prepared] = []
    for g, p, q, a in zip(golds, preds, qs, tols):
        try:
            preps.append(_prepare(g, p, rel_tol, q, float(a or 0.0)))
        except Exception as exc:  # noqa: BLE001
            preps.append(_Prepared(Verdict(False, "error", f"{type(exc).__name__}: {exc}", "string"), None))
    hard = [i for i, pr in enumerate(preps) if pr.verdict is None]
    out: list[Verdict | None] = [None] * len(preps)
    for i, pr in enumerate(preps):
        if pr.verdict is not None:
            out[i] = _finish(pr, pool, timeout_s, t0[i])
    if hard:
        use = pool or default_pool()
        with ThreadPoolExecutor(max(1, min(use.size, len(hard)))) as ex:
            for i, v in zip(
                hard, ex.map(lambda i: _finish(preps[i], use, timeout_s, time.perf_counter()), hard)
            ):
                out[i] = v
    return [v for v in out if v is not None]


class MathAnswerReward:
    """1.0 when the completion's answer is equivalent to `problem.answer`, else 0.0.

    None (masked) only when verification could not be done for reasons that are not the
    completion's: the gold cannot be read or a worker died. A timeout scores
    `timeout_reward` (0.0 by default, so pathological answers are not a way to dodge a 0).
    A problem's `meta["abs_tol"]` (set by tasks that round) is honoured unless
    `use_problem_tolerance=False`.
    """

    name = "math_answer"

    def __init__(
        self,
        tolerance: float = 1e-9,
        timeout_s: float = 5.0,
        modes: Sequence[str] = MODES,
        timeout_reward: float | None = 0.0,
        use_question: bool = True,
        use_problem_tolerance: bool = True,
    ) -> None:
        if tolerance < 0:
            raise ValueError(f"math_answer: tolerance must be >= 0, got {tolerance}")
        if timeout_s <= 0:
            raise ValueError(f"math_answer: timeout_s must be positive, got {timeout_s}")
        bad = [m for m in modes if m not in MODES]
        if bad:
            raise ValueError(f"math_answer: unknown modes {bad}; valid: {', '.join(MODES)}")
        self.tolerance, self.timeout_s, self.modes = float(tolerance), float(timeout_s), tuple(modes)
        self.timeout_reward, self.use_question = timeout_reward, use_question
        self.use_problem_tolerance = use_problem_tolerance
        self.last_verdicts: list[Verdict] = []

    def __call__(self, problems: Sequence[Problem], completions: Sequence[str]) -> list[float | None]:
        if len(problems) != len(completions):
            raise ValueError(f"math_answer: {len(problems)} problems but {len(completions)} completions")
        preds = [extract_answer(c, self.modes) if isinstance(c, str) else None for c in completions]
        abs_tols = [_problem_abs_tol(p) if self.use_problem_tolerance else 0.0 for p in problems]
        verdicts = verify_batch(
            [p.answer for p in problems],
            preds,
            rel_tol=self.tolerance,
            timeout_s=self.timeout_s,
            questions=[p.prompt if self.use_question else None for p in problems],
            abs_tols=abs_tols,
        )
        self.last_verdicts = verdicts
        return [self._score(v) for v in verdicts]

    def _score(self, v: Verdict) -> float | None:
        if v.status == "correct":
            return 1.0
        if v.status == "timeout":
            return self.timeout_reward
        if v.status == "error":
            return None
        return 0.0

    def statuses(self) -> list[str]:
        return [v.status for v in self.last_verdicts]


def _problem_abs_tol(problem: Problem) -> float:
    try:
        return max(0.0, float(problem.meta.get("abs_tol") or 0.0))
    except (TypeError, ValueError):
        return 0.0
