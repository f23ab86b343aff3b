"""Standard-input programs: read integers from stdin, print a spec's result.

Items carry stdin/stdout `cases` (what the project's `code_tests` reward reads); the
reference program passes them in the sandbox before an item is emitted. The prompt's example
is drawn apart from the hidden cases, never one of them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data_gen.code_specs import code_score, hidden_and_example, make_spec, validate_stdio, wrong_outputs
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob

MAIN = (
    "import sys\n\nxs = [int(t) for t in sys.stdin.read().split()]\nresult = {name}(xs)\n"
    "print(' '.join(str(v) for v in result) if isinstance(result, list) else result)\n"
)


@dataclass(frozen=True)
class CodeStdioConfig(TaskConfig):
    task = "code_stdio"
    n_cases: int = knob(4, 8, 1, 30, "stdin/stdout cases per item")


def _fmt(out: Any) -> str:
    return " ".join(str(v) for v in out) if isinstance(out, list) else str(out)


def _io(args: tuple[Any, ...], out: Any) -> dict[str, str]:
    """One stdin/stdout case: the list argument space-separated on one line, the result as printed."""
    return {"input": " ".join(str(v) for v in args[0]) + "\n", "output": _fmt(out)}


class CodeStdio:
    name = "code_stdio"
    description = (
        "write a program reading integers from stdin and printing a result; hidden stdin/stdout cases"
    )
    config_cls = CodeStdioConfig
    injectable = True  # a corrupted trace states one wrong execution fact

    def sample(self, rng: random.Random, cfg: CodeStdioConfig) -> dict[str, Any]:
        spec = make_spec(rng)
        while not spec.list_io:
            spec = make_spec(rng)
        cases, example = hidden_and_example(spec, rng, cfg.n_cases)
        return {"spec": spec, "cases": cases, "example": example}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        spec, cases = params["spec"], params["cases"]
        io = [_io(a, out) for a, out in cases]
        ex = _io(*params["example"])  # drawn apart from the hidden cases
        prompt = (
            f"Write a Python program that reads integers separated by spaces from standard input (call the "
            f"list xs) and prints {spec.doc}. Print a list as space-separated integers on one line. "
            f"Example: input '{ex['input'].strip()}' prints '{ex['output']}'."
        )
        program = spec.source + "\n\n" + MAIN.format(name=spec.name)
        steps = [
            f"Case {i + 1}: {spec.name}({list(a[0])!r}) = "
            f"{tamper.at(i, out, extra=lambda out=out: wrong_outputs(out))!r}"
            for i, (a, out) in enumerate(cases[:3])
        ]
        return Solution(
            prompt, program, steps, {"cases": io, "entry_point": spec.name, "step_check": "execution"}
        )

    def validate(self, sol: Solution) -> bool:
        return validate_stdio(sol.answer, sol.meta["cases"])

    def score(self, item: dict[str, Any], response: str) -> float:
        return code_score(item, response)


TASK = CodeStdio()
