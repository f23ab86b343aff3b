"""Check each step of a trace against the problem; find the first wrong step.

A step is
- ``incorrect`` when any of its claims is false (an arithmetic slip, a derived equation the
  solution does not satisfy, a wrong final answer, a division by zero, an execution fact
  such as ``f([1, 2]) = 4`` that the program does not bear out);
- ``correct`` when at least one claim checks and none fails;
- ``neutral`` when its only claims restate the problem or define a new name ("let t = 12");
- ``unverifiable`` when it has no claim the checker can decide (prose, code, unknown names).

Pairs of a chain ``a = b = c`` are checked left to right ((a, b), then (b, c)), so
"2*x = 11 - 3 = 8" is two checks. A name defined in one step ("t = 3 * 4 = 12") is known in
later steps. Checking is local: after a first error, steps that consistently reuse the wrong
value may pass, which is what "first error" evaluation needs.

In code tasks the execution facts of a trace (`rewards.steps.execution`) are run in the
sandbox, all in one batch, against the trace's own program or else the item's reference; a
fact that cannot be run (no program, sandbox error, timeout) leaves its step unverifiable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rewards.steps.context import Context, as_problem, build_context
from rewards.steps.evaluate import (
    Undefined,
    Unverifiable,
    numbers_agree,
    rounding_tolerance,
    sympy_agree,
    to_fraction,
    to_sympy,
)
from rewards.steps.execution import check_facts, extract_facts, prose, trace_program
from rewards.steps.parse import (
    Claim,
    Node,
    answer_text,
    canonical,
    extract_claims,
    parse_expression,
    variables,
)
from rewards.types import Problem

_ANSWER_IS = re.compile(
    r"(?i)\b(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*([^\s,;]+(?:\s*/\s*\d+)?)"
)


_FACT_OUTCOME = {True: "correct", False: "incorrect", None: "unknown"}


class Verdict(str, Enum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    NEUTRAL = "neutral"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class StepVerdict:
    verdict: Verdict
    reason: str = ""  # the first failing (or deciding) claim, for people reading the output

    @property
    def ok(self) -> bool:
        return self.verdict is not Verdict.INCORRECT


def verify_steps(
    problem: Problem | dict[str, Any], steps: Sequence[str], context: Context | None = None
) -> list[StepVerdict]:
    """One verdict per step string."""
    ctx = context or build_context(as_problem(problem))
    if not ctx.checkable:
        return [StepVerdict(Verdict.UNVERIFIABLE, f"task {ctx.task!r} has no maths to check") for _ in steps]
    texts = [str(step) for step in steps]
    executed = _execute(ctx, texts) if ctx.code else [(t, []) for t in texts]
    defs: dict[str, Any] = {}
    return [_verify_step(step, ctx, defs, rest, facts) for step, (rest, facts) in zip(texts, executed)]


def _execute(ctx: Context, steps: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Run the execution facts of a code trace (one batch): per step, its text with the facts
    blanked out (they are not arithmetic) and each fact's outcome."""
    program = trace_program(steps, ctx.prefix, ctx.entry_point) or ctx.reference
    facts = [f for i, text in enumerate(prose(steps)) for f in extract_facts(text, i, program)]
    truths = check_facts(program, facts) if facts else []
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for i, step in enumerate(steps):
        mine = [(f, t) for f, t in zip(facts, truths) if f.step == i]
        rest = step
        for f, _ in mine:
            rest = rest[: f.start] + " " * (f.end - f.start) + rest[f.end :]
        out.append((rest, [(_FACT_OUTCOME[t], f.source) for f, t in mine]))
    return out


def first_error(problem: Problem | dict[str, Any], steps: Sequence[str]) -> int:
    """Index of the first incorrect step, or -1 when none is found."""
    for i, v in enumerate(verify_steps(problem, steps)):
        if v.verdict is Verdict.INCORRECT:
            return i
    return -1


# ---------------------------------------------------------------------- one step


def _verify_step(
    step: str, ctx: Context, defs: dict[str, Any], claims_text: str, facts: list[tuple[str, str]]
) -> StepVerdict:
    """`claims_text` is the step with its execution facts blanked out; `facts` their outcomes."""
    results: list[tuple[str, str]] = []  # (outcome, claim source)
    ans = answer_text(step)
    if ans is None:
        m = _ANSWER_IS.search(claims_text)
        ans = m.group(1).rstrip(".") if m else None
    if ans is not None:
        results.append((_check_answer(ans, ctx.answer), f"answer {ans!r} vs {ctx.answer!r}"))
    results += facts
    for claim in extract_claims(claims_text):
        for outcome in _check_claim(claim, ctx, defs):
            results.append((outcome, claim.source))
    for outcome, source in results:
        if outcome == "incorrect":
            return StepVerdict(Verdict.INCORRECT, source)
    for outcome, source in results:
        if outcome == "correct":
            return StepVerdict(Verdict.CORRECT, source)
    if any(o in ("restated", "defined") for o, _ in results):
        return StepVerdict(Verdict.NEUTRAL, results[0][1])
    return StepVerdict(Verdict.UNVERIFIABLE, results[0][1] if results else "no checkable claim")


def _check_claim(claim: Claim, ctx: Context, defs: dict[str, Any]) -> list[str]:
    out = []
    for a, b in zip(claim.parts, claim.parts[1:]):
        if (canonical(a), canonical(b)) in ctx.restated:
            out.append("restated")
            continue
        out.append(_check_pair(a, b, claim.approx, ctx, defs))
    return out


def _check_pair(a: Node, b: Node, approx: bool, ctx: Context, defs: dict[str, Any]) -> str:
    tol = max(rounding_tolerance(a, approx), rounding_tolerance(b, approx))
    names = variables(a) | variables(b)
    try:
        if not names:
            fa, fb = to_fraction(a), to_fraction(b)
            if fa is not None and fb is not None:
                return "correct" if numbers_agree(fa, fb, tol) else "incorrect"
            return _sympy_outcome(sympy_agree(to_sympy(a), to_sympy(b), tol))
        known = ctx.known | defs.keys()
        if names <= known:
            assignments = [{**s, **defs} for s in ctx.solutions] or [dict(defs)]
            outcomes = {_sympy_outcome(sympy_agree(to_sympy(a, s), to_sympy(b, s), tol)) for s in assignments}
            if "correct" in outcomes:
                return "correct"
            return "incorrect" if outcomes == {"incorrect"} else "unknown"
        defined = _definition(a, b, known, ctx, defs)
        if defined:
            return "defined"
        return _sympy_outcome(sympy_agree(to_sympy(a, defs), to_sympy(b, defs), tol), identity_only=True)
    except Undefined:
        return "incorrect"
    except (Unverifiable, RecursionError, OverflowError, ValueError, TypeError):
        return "unknown"


def _definition(a: Node, b: Node, known: set[str], ctx: Context, defs: dict[str, Any]) -> bool:
    """`t = <known value>` introduces t (either orientation)."""
    for name_side, value_side in ((a, b), (b, a)):
        if name_side[0] == "var" and name_side[1] not in known and variables(value_side) <= known:
            values = {**(ctx.solutions[0] if ctx.solutions else {}), **defs}
            defs[name_side[1]] = to_sympy(value_side, values)
            return True
    return False


def _sympy_outcome(agree: bool | None, identity_only: bool = False) -> str:
    if agree is None:
        return "unknown"
    if identity_only:  # free names left: only an identity (a rewrite) can be confirmed
        return "correct" if agree else "unknown"
    return "correct" if agree else "incorrect"


def _check_answer(given: str, expected: str) -> str:
    g, e = _answer_node(given), _answer_node(expected)
    if g is not None and e is not None and not variables(g) and not variables(e):
        try:
            fg, fe = to_fraction(g), to_fraction(e)
            if fg is not None and fe is not None:
                tol = rounding_tolerance(g, False) if fe.denominator != 1 else 0
                return "correct" if numbers_agree(fg, fe, tol) else "incorrect"
            return _sympy_outcome(sympy_agree(to_sympy(g), to_sympy(e), rounding_tolerance(g, False)))
        except Undefined:
            return "incorrect"
        except Unverifiable:
            return "unknown"
    if _norm(given) == _norm(expected):
        return "correct"
    return "unknown"


def _answer_node(text: str) -> Node | None:
    text = text.strip().rstrip(".")
    if "=" in text:  # "x = 4"
        text = text.rsplit("=", 1)[1]
    return parse_expression(text)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).strip(".").lower()


def answer_matches(completion: str, expected: str) -> bool:
    """Does the final answer written in `completion` (<answer>, \\boxed, 'answer is') equal `expected`?"""
    given = answer_text(completion)
    if given is None:
        found = _ANSWER_IS.findall(completion)
        given = found[-1].rstrip(".") if found else None
    return given is not None and _check_answer(given, expected) == "correct"
