"""Write-a-function tasks from parametric specs (list, string and number manipulations).

The prompt shows one example, drawn apart from the hidden tests (never one of them); the
hidden tests are asserts over edge and random inputs.
Steps are execution facts (`name(args) = result`), one per shown test, which a checker
verifies by running the program (`rewards.steps`); error injection states one result wrongly. The reference passes its tests in the project's
sandbox before an item is emitted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data_gen.code_specs import (
    call_text,
    code_score,
    hidden_and_example,
    make_spec,
    tests_text,
    validate_tests,
    wrong_outputs,
)
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob


@dataclass(frozen=True)
class CodeFunctionConfig(TaskConfig):
    task = "code_function"
    n_tests: int = knob(5, 10, 2, 50, "hidden asserts per item")
    shown_steps: int = knob(3, 3, 1, 10, "execution facts written as solution steps")


class CodeFunction:
    name = "code_function"
    description = "write a Python function from a spec; hidden assert tests"
    config_cls = CodeFunctionConfig
    injectable = True  # a corrupted trace states one wrong execution fact

    def sample(self, rng: random.Random, cfg: CodeFunctionConfig) -> dict[str, Any]:
        spec = make_spec(rng)
        cases, example = hidden_and_example(spec, rng, cfg.n_tests)
        return {"spec": spec, "cases": cases, "example": example, "shown": cfg.shown_steps}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        spec, cases = params["spec"], params["cases"]
        ex_args, ex_out = params["example"]  # drawn apart from the hidden tests
        prompt = (
            f"Write a Python function `{spec.name}({spec.args})` that returns {spec.doc}. "
            f"Example: {call_text(spec, ex_args)} == {ex_out!r}."
        )
        steps = [
            f"Check: {call_text(spec, a)} = {tamper.at(k, out, extra=lambda out=out: wrong_outputs(out))!r}"
            for k, (a, out) in enumerate(cases[: params["shown"]])
        ]
        return Solution(
            prompt,
            spec.source,
            steps,
            {
                "entry_point": spec.name,
                "tests": tests_text(spec, cases),
                "step_check": "execution",
            },
        )

    def validate(self, sol: Solution) -> bool:
        return validate_tests(sol.answer, sol.meta["tests"], sol.meta["entry_point"])

    def score(self, item: dict[str, Any], response: str) -> float:
        return code_score(item, response)


TASK = CodeFunction()
