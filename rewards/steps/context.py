"""What the verifier knows about a problem: values of its unknowns and the claims it states.

A derived equation ("2*x = 8" while solving "2x + 3 = 11") is checked by substituting the
problem's solution; the solution comes from `meta` when the generator recorded it, or else
from solving the equations written in the prompt with sympy. Claims that appear in the
prompt itself are remembered so a step that only restates them is neutral, not correct.

Recognised `meta` keys (any generator may use them): ``variables`` / ``values`` /
``solution`` (a mapping name -> value), ``solutions`` (a list of such mappings, or of values
with ``variable``), ``variable`` + ``solution`` / ``value`` (one unknown), single-letter keys
with numeric values, and ``equation(s)`` / ``expression`` strings (treated like prompt text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy

from rewards.steps.evaluate import Undefined, Unverifiable, to_sympy
from rewards.steps.execution import ProgramInfo, reference_program
from rewards.steps.parse import canonical, extract_claims, parse_expression, variables
from rewards.types import Problem

CODE_TASK_HINTS = ("code", "program", "python", "function")
MAX_SOLVE_EQUATIONS = 4


@dataclass(frozen=True)
class Context:
    task: str
    answer: str
    solutions: tuple[dict[str, Any], ...] = ()  # each a full assignment of the problem's unknowns
    restated: frozenset[tuple[str, str]] = frozenset()  # (lhs, rhs) canonical pairs the problem states
    checkable: bool = True  # False for tasks whose steps are not maths (code)
    notes: tuple[str, ...] = field(default_factory=tuple)
    # code tasks: execution facts ("f(2) = 4", "input '3' prints '9'") are run, against the
    # trace's own program or else this reference; `prefix`/`entry_point` complete a bare body
    code: bool = False
    reference: ProgramInfo | None = None
    prefix: str = ""
    entry_point: str = ""

    @property
    def known(self) -> set[str]:
        return set().union(*(s.keys() for s in self.solutions)) if self.solutions else set()


def as_problem(problem: Problem | dict[str, Any]) -> Problem:
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, dict):
        return Problem.from_dict(problem)
    raise TypeError(f"problem must be a Problem or a data_gen row (dict), got {type(problem).__name__}")


def outcome_only(problem: Problem) -> bool:
    """An item whose steps nothing can check (`meta.step_check: none`: reasoning-gym answers,
    MATH/Numina/AIME prose, code without a reference): its step rewards are masked, never 0."""
    return str(problem.meta.get("step_check", "")).lower() == "none"


def build_context(problem: Problem | dict[str, Any]) -> Context:
    p = as_problem(problem)
    if outcome_only(p):
        return Context(task=p.task, answer=p.answer, checkable=False, notes=("outcome_only",))
    code_meta = any(k in p.meta for k in ("tests", "entry_point", "cases"))
    if any(h in p.task.lower() for h in CODE_TASK_HINTS) or code_meta:
        # code: the prompt's `x = x + 4` is an assignment, not an equation; the steps' own
        # arithmetic ("x: 4 + 4 = 8"), their execution facts (run) and the answer are checked
        return Context(
            task=p.task,
            answer=p.answer,
            notes=("code",),
            code=True,
            reference=reference_program(p),
            prefix=str(p.meta.get("prefix") or ""),
            entry_point=str(p.meta.get("entry_point") or ""),
        )
    texts = [p.prompt] + [str(p.meta[k]) for k in ("equation", "equations", "expression") if k in p.meta]
    claims = [c for t in texts for c in extract_claims(t)]
    restated = set()
    for c in claims:
        for a, b in zip(c.parts, c.parts[1:]):
            restated |= {(canonical(a), canonical(b)), (canonical(b), canonical(a))}
    solutions = _from_meta(p.meta)
    if not solutions:
        solutions = _solve(claims)
    if not solutions:
        solutions = _from_answer(claims, p.answer)
    return Context(task=p.task, answer=p.answer, solutions=tuple(solutions), restated=frozenset(restated))


def _value(v: Any) -> Any | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return sympy.nsimplify(v) if isinstance(v, float) else sympy.Integer(v)
    if isinstance(v, str):
        node = parse_expression(v)
        if node is not None and not variables(node):
            try:
                return to_sympy(node)
            except (Undefined, Unverifiable):
                return None
    return None


def _mapping(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        return {}
    out = {str(k): _value(v) for k, v in d.items() if isinstance(k, str)}
    return {k: v for k, v in out.items() if v is not None and _is_name(k)}


def _is_name(k: str) -> bool:
    return parse_expression(k) == ("var", k)


def _from_meta(meta: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("variables", "values", "solution"):
        m = _mapping(meta.get(key))
        if m:
            return [m]
    var = meta.get("variable") or meta.get("var")
    sols = meta.get("solutions")
    if isinstance(sols, list) and sols:
        if all(isinstance(s, dict) for s in sols):
            return [m for m in (_mapping(s) for s in sols) if m]
        if isinstance(var, str):
            return [{var: v} for v in (_value(s) for s in sols) if v is not None]
    if isinstance(var, str):
        for key in ("solution", "value", "root"):
            v = _value(meta.get(key))
            if v is not None:
                return [{var: v}]
    single = {k: _value(v) for k, v in meta.items() if isinstance(k, str) and len(k) == 1 and k.isalpha()}
    single = {k: v for k, v in single.items() if v is not None}
    return [single] if single else []


def _solve(claims: list) -> list[dict[str, Any]]:
    eqs, syms = [], set()
    for c in claims:
        if not any(variables(p) for p in c.parts):
            continue
        try:
            sides = [to_sympy(p) for p in c.parts]
        except (Undefined, Unverifiable):
            continue
        eqs += [sympy.Eq(a, b) for a, b in zip(sides, sides[1:])]
        syms |= set().union(*(s.free_symbols for s in sides))
    if not eqs or len(eqs) > MAX_SOLVE_EQUATIONS or len(syms) > MAX_SOLVE_EQUATIONS:
        return []
    try:
        sols = sympy.solve(eqs, sorted(syms, key=str), dict=True)
    except (NotImplementedError, TypeError, ValueError):
        return []
    out = []
    for s in sols:
        if len(s) == len(syms) and all(v.is_number for v in s.values()):
            out.append({str(k): v for k, v in s.items()})
    return out


def _from_answer(claims: list, answer: str) -> list[dict[str, Any]]:
    names = set().union(*(variables(p) for c in claims for p in c.parts)) if claims else set()
    value = _value(answer.split("=")[-1].strip()) if answer else None
    if len(names) == 1 and value is not None:
        return [{names.pop(): value}]
    return []
