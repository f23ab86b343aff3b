"""A user's own domain items: rows with `question` and `answer` (optional `steps`, `tolerance`).

The smallest shape a domain expert can write in a spreadsheet. Each row becomes a data_gen
item row (`id, task, prompt, answer, solution_steps, meta`), so everything that reads
generated items reads it too: the SFT trainer (the gold completion is the steps, then the
answer), GRPO's problem file (`data.source: jsonl`), `cotrl eval`, and the verifiers:
`meta["abs_tol"]` is the row's tolerance (the answer verifier accepts a number within it),
and steps written `Label: lhs = rhs` are checked by the rule step verifier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

TASK = "user_domain"
QA_COLUMNS = ("question", "answer", "steps", "tolerance")


def is_qa(columns: Iterable[str]) -> bool:
    """Rows in the question/answer form (and not data_gen items or chats)."""
    cols = set(columns)
    return "question" in cols and "solution_steps" not in cols and "messages" not in cols


def qa_item(row: dict[str, Any], index: int, task: str = TASK) -> dict[str, Any]:
    """One row as a data_gen item; ValueError says what is wrong with the row (the caller names it)."""
    missing = [c for c in ("question", "answer") if _blank(row.get(c))]
    if missing:
        raise ValueError(f"missing {' and '.join(repr(c) for c in missing)}")
    steps = _steps(row.get("steps"))
    tol = _tolerance(row.get("tolerance"))
    meta: dict[str, Any] = {"step_check": "equal", "abs_tol": tol, "row": index}
    return {
        "id": f"{task}-{index}",
        "task": task,
        "prompt": str(row["question"]).strip(),
        "answer": _text(row["answer"]),
        "solution_steps": steps,
        "difficulty": {},
        "meta": meta,
    }


def qa_items(rows: Sequence[dict[str, Any]], where: str, task: str = TASK) -> list[dict[str, Any]]:
    """All rows of one file; every bad row is collected and named (1-based data rows) in one error."""
    out, bad = [], {}
    for i, row in enumerate(rows, start=1):
        try:
            out.append(qa_item(row, i, task))
        except ValueError as exc:
            bad.setdefault(str(exc), []).append(i)
    if bad:
        parts = [
            f"row{'s' if len(idx) > 1 else ''} {', '.join(map(str, idx[:8]))}{' (+more)' if len(idx) > 8 else ''}"
            f" of {len(rows)}: {reason}"
            for reason, idx in bad.items()
        ]
        raise ValueError(f"{where}: " + "; ".join(parts))
    return out


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _text(v: Any) -> str:
    """An answer cell as text; a float that is an integer (CSV/Parquet numbers) loses its `.0`."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _steps(v: Any) -> list[str]:
    """Steps as a list, a JSON list in a text cell, or lines of text; absent steps are allowed."""
    if _blank(v):
        return []
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            try:
                v = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("'steps' starts with '[' but is not a JSON list") from None
        else:
            return [line.strip() for line in text.splitlines() if line.strip()]
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise ValueError("'steps' must be a list of strings or lines of text")
    return [s.strip() for s in v if s.strip()]


def _tolerance(v: Any) -> float:
    if _blank(v):
        return 0.0
    try:
        tol = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"'tolerance' must be a number >= 0, got {v!r}") from None
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"'tolerance' must be a number >= 0, got {v!r}")
    return tol
