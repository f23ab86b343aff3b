"""math-verify (Hugging Face's answer verifier) as a second reader, inside the worker.

`rewards.math.equiv` decides when it reads both answers as the same kind of object (two
expressions, two relations, two sets...): there its exact and high-precision rules hold, and
math-verify's known false positives (6-digit rounding: 1/2004! = 1/2006!; right-hand sides
compared alone: 3x-y+13=0 = 3x+4y+14=0) cannot arise. When it cannot read a side, or reads
the two as different kinds, math-verify's own `parse` and `verify` are asked. Both run in the
killable worker, so math-verify's hangs end at the deadline like sympy's; its own
signal-based timeouts are off (they need the main thread and whole seconds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import math_verify
import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig
from sympy.core.relational import Relational

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns once that timeouts are off

_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())


@dataclass(frozen=True)
class PeerVerdict:
    gold_read: bool
    pred_read: bool
    correct: bool


def kind(e: sympy.Basic) -> str:
    """The kind of object an answer is; equal kinds are decided by our own rules."""
    if isinstance(e, (sympy.MatrixBase, sympy.MatrixExpr)):
        return "matrix"
    if isinstance(e, Relational):
        return "relation"
    if isinstance(e, sympy.Set):
        return "set"
    if isinstance(e, sympy.Tuple):
        return "tuple"
    if isinstance(e, sympy.logic.boolalg.Boolean):
        return "other"  # And/Or of relations: our rules are partial there
    if isinstance(e, sympy.Expr):
        return "expr"
    return "other"


def _read(answer: str) -> list:
    text = answer if "$" in answer or "\\boxed" in answer else f"${answer}$"
    return math_verify.parse(text, list(_CONFIG), parsing_timeout=None)


def peer_verdict(gold: str, pred: str, ours: tuple[str | None, str | None] = (None, None)) -> PeerVerdict:
    """math-verify's reading of two extracted answers; exceptions read as 'could not read'.

    `ours` holds the kinds our parser gave each side (None: not read). Where math-verify
    reads a side as a plain expression that we read as a set, relation, tuple or matrix, it
    took a piece of the answer (the 5 of `x \\in [2, 5)`): its acceptance is refused."""
    try:
        g = _read(gold)
    except Exception:  # noqa: BLE001 - a peer failure is a non-answer, never a crash
        g = []
    try:
        p = _read(pred)
    except Exception:  # noqa: BLE001
        p = []
    g_read = any(not isinstance(x, str) for x in g)
    p_read = any(not isinstance(x, str) for x in p)
    if not g or not p:
        return PeerVerdict(g_read, p_read, False)
    for read, our_kind in ((g, ours[0]), (p, ours[1])):
        first = next((x for x in read if not isinstance(x, str)), None)
        if our_kind not in (None, "expr", "other") and first is not None and kind(first) == "expr":
            return PeerVerdict(g_read, p_read, False)
    try:
        ok = bool(math_verify.verify(g, p, timeout_seconds=None))
    except Exception:  # noqa: BLE001
        ok = False
    return PeerVerdict(g_read, p_read, ok)
