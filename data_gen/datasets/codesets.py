"""Published code datasets -> problem items for the `code_tests` reward: MBPP, HumanEval, and
stdin/stdout sets (APPS, CodeContests).

- MBPP (`task_id, text, code, test_list, test_setup_code`; the sanitized split says
  `prompt` for `text`): the tests are the setup code then the asserts; the prompt shows the
  first assert, as the MBPP paper's prompt does, so the model learns the function's name.
- HumanEval (`task_id, prompt, canonical_solution, test, entry_point`): the program that runs
  is `prompt + completion`, tested by the published `check(candidate)`.
- stdio: APPS (`question, input_output` as a JSON string of `{inputs, outputs}`, `solutions`
  as a JSON string) and CodeContests (`description, public_tests {input, output}`, also
  `private_tests`/`generated_tests`, `solutions {language, solution}`). APPS rows with
  `fn_name` are call-based, not stdin/stdout, and are refused as bad rows.

Steps: a simple assert `assert f(1, 2) == 3` becomes the execution fact `Check: f(1, 2) = 3`
and a stdin/stdout case `Case 1: input '1 2' prints '3'`, which the rule step verifier runs
against the item's reference program (`step_check: execution`); without a Python reference
(or without such facts) the item is outcome-only (`step_check: none`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from data_gen.datasets.mathsets import RowError, column, item_row, text

_ASSERT = re.compile(
    r"^\s*assert\s+(?:candidate|(?P<name>[A-Za-z_]\w*))\s*\((?P<args>.*)\)\s*==\s*(?P<want>.+?)\s*$"
)
_ENTRY = re.compile(r"assert\s+(?:\w+\s*\(\s*)*([A-Za-z_]\w*)\s*\(")
_PYTHON3 = 3  # CodeContests language code of Python 3 (1 is Python 2, which does not run here)
MAX_CASES = 32  # stdin/stdout cases kept per item (CodeContests rows carry hundreds)


def _facts(asserts: list[str], entry: str) -> list[str]:
    out = []
    for line in asserts:
        m = _ASSERT.match(line)
        if m and m.group("name") in (None, entry):
            out.append(f"Check: {entry}({m.group('args').strip()}) = {m.group('want')}")
    return out


def _item(task: str, rid: Any, index: int, prompt: str, answer: str, steps: list[str], meta: dict) -> dict:
    step_check = "execution" if steps and answer.strip() else "none"
    return item_row(
        task, rid, index, prompt, answer, steps, {**meta, "source": task, "step_check": step_check}
    )


def from_mbpp(row: dict[str, Any], index: int) -> dict[str, Any]:
    description = text(row, "text", "prompt")
    tests = column(row, "test_list")
    if isinstance(tests, str):
        tests = [tests]
    if not isinstance(tests, (list, tuple)) or not tests:
        raise RowError("column 'test_list' must be a non-empty list of asserts")
    asserts = [str(t) for t in tests]
    found = _ENTRY.search(asserts[0])
    if not found:
        raise RowError(f"cannot find the function name in test {asserts[0][:80]!r}")
    entry = found.group(1)
    setup = str(column(row, "test_setup_code") or "")
    prompt = f"{description}\nYour code should pass these tests:\n" + "\n".join(asserts[:1])
    code = str(column(row, "code") or "")
    meta = {
        "tests": (setup + "\n" if setup.strip() else "") + "\n".join(asserts) + "\n",
        "entry_point": entry,
    }
    return _item("mbpp", column(row, "task_id"), index, prompt, code, _facts(asserts, entry), meta)


def from_humaneval(row: dict[str, Any], index: int) -> dict[str, Any]:
    text(row, "prompt")  # present and not blank
    prompt = str(column(row, "prompt"))  # verbatim: the program is prompt + completion
    test = text(row, "test")
    entry = text(row, "entry_point")
    solution = str(column(row, "canonical_solution") or "")
    asserts = [ln for ln in test.splitlines() if ln.strip().startswith("assert")]
    meta = {"tests": test, "entry_point": entry, "prefix": prompt}
    rid = column(row, "task_id")
    steps = _facts(asserts, entry)
    return _item(
        "humaneval", str(rid).replace("/", "-") if rid else None, index, prompt, solution, steps, meta
    )


def _json(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise RowError(f"column {name!r} is not JSON ({exc.msg})") from None
    return value


def _cases(row: dict[str, Any]) -> list[dict[str, str]]:
    io = _json(column(row, "input_output"), "input_output")
    if io is not None:  # APPS
        if not isinstance(io, dict):
            raise RowError("column 'input_output' must be a JSON object with inputs and outputs")
        if io.get("fn_name"):
            raise RowError(f"call-based problem (fn_name {io['fn_name']!r}), not stdin/stdout")
        ins, outs = io.get("inputs") or [], io.get("outputs") or []
    else:  # CodeContests: public first, then private and generated
        ins, outs = [], []
        for key in ("public_tests", "private_tests", "generated_tests"):
            tests = _json(column(row, key), key) or {}
            ins += list(tests.get("input") or [])
            outs += list(tests.get("output") or [])
    if len(ins) != len(outs):
        raise RowError(f"{len(ins)} test inputs but {len(outs)} outputs")
    cases = [{"input": _joined(i), "output": _joined(o)} for i, o in zip(ins, outs)]
    if not cases:
        raise RowError("no stdin/stdout cases (input_output / public_tests)")
    return cases[:MAX_CASES]


def _joined(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _python_solution(row: dict[str, Any]) -> str:
    sols = _json(column(row, "solutions"), "solutions")
    if isinstance(sols, list):  # APPS: a list of Python programs
        return str(sols[0]) if sols else ""
    if isinstance(sols, dict):  # CodeContests: parallel lists of language codes and programs
        for lang, program in zip(sols.get("language") or [], sols.get("solution") or []):
            if lang == _PYTHON3:
                return str(program)
    return ""


def _quoted(s: str) -> str:
    return "'" + s.strip("\n").replace("\n", " ").replace("'", "") + "'"


def from_stdio(row: dict[str, Any], index: int) -> dict[str, Any]:
    prompt = text(row, "question", "description", "problem")
    cases = _cases(row)
    program = _python_solution(row)
    steps = [
        f"Case {i}: input {_quoted(c['input'])} prints {_quoted(c['output'])}"
        for i, c in enumerate(cases[:3], 1)
        if "\n" not in c["input"].strip("\n") and "\n" not in c["output"].strip("\n")
    ]
    meta: dict[str, Any] = {"cases": cases}
    for key in ("difficulty", "url", "source"):
        if column(row, key) is not None:
            meta[key] = column(row, key)
    rid = column(row, "problem_id", "name", "id")
    return _item("stdio", rid, index, prompt, program, steps, meta)
