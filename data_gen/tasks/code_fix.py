"""Fix-the-bug: a spec's reference with one plausible bug (flipped comparison, wrong
initial value, off-by-one range). Only bugs that fail the hidden tests are used, and both
facts (reference passes, buggy version fails) are checked in the sandbox."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data_gen.code_specs import (
    call_text,
    code_score,
    make_spec,
    run_reference,
    test_cases,
    tests_text,
    validate_tests,
    wrong_outputs,
)
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob


@dataclass(frozen=True)
class CodeFixConfig(TaskConfig):
    task = "code_fix"
    n_tests: int = knob(6, 10, 2, 50, "hidden asserts per item")


class CodeFix:
    name = "code_fix"
    description = "fix the bug in a given Python function; hidden assert tests"
    config_cls = CodeFixConfig
    injectable = True  # a corrupted trace states the expected result wrongly

    def sample(self, rng: random.Random, cfg: CodeFixConfig) -> dict[str, Any]:
        spec = make_spec(rng)
        cases = test_cases(spec, rng, cfg.n_tests)
        bugs = list(spec.bugs)
        rng.shuffle(bugs)
        for old, new in bugs:  # the first bug some test catches (checked in-process, then in the sandbox)
            buggy = spec.source.replace(old, new, 1)
            for args, out in cases:
                try:
                    if run_reference(spec, buggy, args) != out:
                        return {"spec": spec, "cases": cases, "buggy": buggy, "failing": (args, out)}
                except Exception:  # noqa: BLE001 - a crash is also a caught bug
                    return {"spec": spec, "cases": cases, "buggy": buggy, "failing": (args, out)}
        return {"spec": spec, "cases": cases, "buggy": None, "failing": None}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        spec, cases, buggy = params["spec"], params["cases"], params["buggy"]
        prompt = (
            f"The function `{spec.name}` should return {spec.doc}, but it has a bug. "
            f"Write the corrected function.\n\n```python\n{buggy or spec.source}```"
        )
        args, out = params["failing"] or cases[0]
        shown = tamper.at(0, out, extra=lambda: wrong_outputs(out))
        steps = [f"Expected: {call_text(spec, args)} = {shown!r}"]
        return Solution(
            prompt,
            spec.source,
            steps,
            {
                "entry_point": spec.name,
                "tests": tests_text(spec, cases),
                "buggy": buggy,
                "step_check": "execution",
            },
        )

    def validate(self, sol: Solution) -> bool:
        m = sol.meta
        return (
            m["buggy"] is not None
            and validate_tests(sol.answer, m["tests"], m["entry_point"])
            and validate_tests(m["buggy"], m["tests"], m["entry_point"], expect_pass=False)
        )

    def score(self, item: dict[str, Any], response: str) -> float:
        return code_score(item, response)


TASK = CodeFix()
