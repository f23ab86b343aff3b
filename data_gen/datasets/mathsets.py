"""Published maths datasets -> problem items: GSM8K, MATH / MATH-500, NuminaMath-CoT, AIME.

Each converter takes one row as published and returns an item dict (`rewards.types.Problem`'s
row) or raises `RowError` saying why the row has no usable answer. Columns are looked up
case-insensitively (AIME sets spell them `Problem`/`Answer` as often as `problem`/`answer`).

Only GSM8K's steps can be checked: its calculator annotations (`48/2 = <<48/2=24>>24`) are
arithmetic the rule step verifier decides, so its items keep `step_check: equal`. MATH,
Numina and AIME solutions are LaTeX prose; their items are outcome-only (`step_check: none`:
the rule step reward gives every step None, masked, never 0) and keep the published
solution's lines as `solution_steps` only so SFT has a gold completion to learn.
"""

from __future__ import annotations

import re
from typing import Any

from rewards.math import extract
from rewards.steps import Verdict, verify_steps

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_FINAL = re.compile(r"^\s*####\s*(.*?)\s*$", re.M)
_LEVEL = re.compile(r"(\d+)")
_INTEGER = re.compile(r"^[+-]?\d+$")
_TIMES = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d($])")  # GSM8K writes `0.2 x 50` for a product


class RowError(Exception):
    """A row whose answer (or another needed field) cannot be read; the message says why."""


def column(row: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `row` (case-insensitive), else None."""
    lower = {str(k).lower(): v for k, v in row.items()}
    for name in names:
        value = lower.get(name.lower())
        if value is not None and value != "":
            return value
    return None


def text(row: dict[str, Any], *names: str) -> str:
    value = column(row, *names)
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"no text in column {' / '.join(repr(n) for n in names)}")
    return value.strip()


# ---------------------------------------------------------------------- GSM8K


def gsm8k_steps(solution: str) -> list[tuple[str, str]]:
    """The reasoning lines before `####` as (natural, fallback) step texts.

    Natural: each calculator annotation made visible arithmetic. `48/2 = <<48/2=24>>24` already
    shows the sum, so the annotation is dropped; `has <<3*4=12>>12 apples` does not, so it
    becomes `has 3*4 = 12 apples`; a product written `0.2 x 50` becomes `0.2 * 50`.
    Fallback, for a line whose prose the verifier misreads (`3 packs x $4 = $12` reads as
    `4 = 12`): its `=` said as `is`, then `, since 3*4 = 12`: the annotation, always checkable.
    """
    steps = []
    for line in solution.split("####")[0].splitlines():
        out, pos = [], 0
        for m in _ANNOTATION.finditer(line):
            before = _TIMES.sub(" * ", line[pos : m.start()])
            shown = before.rstrip(" $").endswith("=")
            out.append(before if shown else f"{before}{m.group(1).strip()} = ")
            pos = m.end()
        natural = " ".join(("".join(out) + line[pos:]).split())
        if not natural:
            continue
        calcs = [f"{lhs.strip()} = {rhs.strip()}" for lhs, rhs in _ANNOTATION.findall(line)]
        prose = " ".join(_ANNOTATION.sub("", line).replace("=", " is ").split()).rstrip(".")
        steps.append((natural, f"{prose}, since {' and '.join(calcs)}." if calcs else natural))
    return steps


def number_answer(raw: str) -> str:
    """`1,200` -> `1200`, `$5` -> `5`; RowError when what is left is not a number."""
    value = raw.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        float(value)
    except ValueError:
        raise RowError(f"answer {raw!r} is not a number") from None
    return value


def from_gsm8k(row: dict[str, Any], index: int) -> dict[str, Any]:
    question = text(row, "question")
    solution = text(row, "answer")
    final = _FINAL.findall(solution)
    if not final:
        raise RowError("column 'answer' has no '#### <number>' final line")
    answer = number_answer(final[-1])
    pairs = gsm8k_steps(solution)
    item = _item(row, index, "gsm8k", question, answer, [n for n, _ in pairs], {"source": "gsm8k"})
    natural = [v.verdict for v in verify_steps(item, item["solution_steps"])] if pairs else []
    steps = [f if v is Verdict.INCORRECT else n for (n, f), v in zip(pairs, natural)]
    item["solution_steps"] = steps
    checked = [v.verdict for v in verify_steps(item, steps)] if steps else []
    ok = Verdict.CORRECT in checked and Verdict.INCORRECT not in checked
    item["meta"]["step_check"] = "equal" if ok else "none"  # a wrong annotation: outcome only
    item["meta"]["annotations"] = len(_ANNOTATION.findall(solution))
    return item


# ---------------------------------------------------------------------- MATH, Numina, AIME


def last_boxed(solution: str) -> str | None:
    """The contents of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced; None when empty."""
    found = extract.last_boxed(solution)
    return (found.strip() or None) if found is not None else None


def _math_answer(row: dict[str, Any]) -> str:
    given = column(row, "answer")
    if given is not None and str(given).strip():
        return str(given).strip()
    solution = column(row, "solution")
    if solution is None:
        raise RowError("neither an 'answer' nor a 'solution' column")
    found = last_boxed(str(solution))
    if found is None:
        raise RowError("no \\boxed{} answer in column 'solution'")
    return found


def _lines(solution: Any) -> list[str]:
    return [ln.strip() for ln in str(solution or "").splitlines() if ln.strip()]


def from_math(row: dict[str, Any], index: int) -> dict[str, Any]:
    """MATH (`problem, level, type, solution`) and MATH-500 (`+ answer, subject, unique_id`)."""
    problem = text(row, "problem")
    answer = _math_answer(row)
    meta: dict[str, Any] = {"source": "math", "step_check": "none"}
    for key in ("level", "type", "subject", "unique_id"):
        value = column(row, key)
        if value is not None:
            meta[key] = value
    difficulty: dict[str, Any] = {}
    level = _LEVEL.search(str(meta.get("level", "")))
    if level:
        difficulty["level"] = int(level.group(1))
    item = _item(row, index, "math", problem, answer, _lines(column(row, "solution")), meta)
    item["difficulty"] = difficulty
    return item


def _from_messages(row: dict[str, Any], role: str) -> str | None:
    msgs = column(row, "messages")
    if isinstance(msgs, (list, tuple)):
        said = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == role]
        if said and isinstance(said[0], str) and said[0].strip():
            return said[0].strip()
    return None


def from_numina(row: dict[str, Any], index: int) -> dict[str, Any]:
    """NuminaMath-CoT: `source, problem, solution, messages`; the answer is the last box. A row
    with only `messages` reads the problem from the user turn and the solution from the assistant's."""
    problem = _from_messages(row, "user") if column(row, "problem") is None else text(row, "problem")
    solution = _from_messages(row, "assistant") if column(row, "solution") is None else text(row, "solution")
    if problem is None or solution is None:
        raise RowError("no 'problem' / 'solution' (and no user / assistant turn in 'messages')")
    answer = last_boxed(solution)
    if answer is None:
        raise RowError("no \\boxed{} answer in column 'solution'")
    meta = {"source": "numina", "origin": str(column(row, "source") or ""), "step_check": "none"}
    return _item(row, index, "numina", problem, answer, _lines(solution), meta)


def from_aime(row: dict[str, Any], index: int) -> dict[str, Any]:
    """AIME-style rows (`problem`/`question`, `answer`, optional `solution`): integer answers."""
    problem = text(row, "problem", "question")
    raw = column(row, "answer")
    if raw is None:
        solution = column(row, "solution")
        raw = last_boxed(str(solution)) if solution is not None else None
    if raw is None:
        raise RowError("no 'answer' (and no \\boxed{} in 'solution')")
    value = str(raw).strip()
    if not _INTEGER.match(value):
        raise RowError(f"answer {raw!r} is not an integer")
    meta: dict[str, Any] = {"source": "aime", "step_check": "none"}
    for key in ("url", "year"):
        if column(row, key) is not None:
            meta[key] = column(row, key)
    return _item(row, index, "aime", problem, str(int(value)), _lines(column(row, "solution")), meta)


def _item(
    row: dict[str, Any], index: int, task: str, prompt: str, answer: str, steps: list[str], meta: dict
) -> dict[str, Any]:
    rid = column(row, "id", "unique_id", "task_id", "problem_id")
    return item_row(task, rid, index, prompt, answer, steps, meta)


def item_row(
    task: str, rid: Any, index: int, prompt: str, answer: str, steps: list[str], meta: dict
) -> dict[str, Any]:
    """One problem item in the project's row layout, from row `index` (id `rid`) of a `task` file."""
    return {
        "id": f"{task}-{rid}" if rid is not None else f"{task}-{index}",
        "task": task,
        "prompt": prompt,
        "messages": [{"role": "user", "content": prompt}],
        "answer": answer,
        "solution_steps": steps,
        "difficulty": {},
        "meta": {**meta, "row": index},
    }
