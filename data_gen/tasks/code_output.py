"""Predict the output of a small generated program (a loop updating two variables).

Steps trace every executed assignment as an arithmetic claim (`i is 2, x: 7 + 2 = 9`),
so they are sympy-checkable and error injection works as for arithmetic: a wrong value
makes its step false and the trace continues from it. The reference program is run in
the sandbox and must print exactly the traced answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig, knob


@dataclass(frozen=True)
class CodeOutputConfig(TaskConfig):
    task = "code_output"
    iterations: int = knob(3, 6, 1, 20, "loop iterations")
    max_const: int = knob(9, 20, 1, 1000, "largest constant in the program")
    use_y_prob: float = knob(0.3, 0.8, 0.0, 1.0, "chance a second variable accumulates x")
    branch_prob: float = knob(0.0, 0.6, 0.0, 1.0, "chance of an if inside the loop")


def _p(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


class CodeOutput:
    name = "code_output"
    description = "predict what a small generated Python program prints"
    config_cls = CodeOutputConfig
    injectable = True

    def sample(self, rng: random.Random, cfg: CodeOutputConfig) -> dict[str, Any]:
        return {
            "x0": rng.randint(0, cfg.max_const),
            "n": rng.randint(1, cfg.iterations),
            "op": rng.choice(("+ i", "- i", "* c", "+ c", "- c")),
            "c": rng.randint(2, max(2, min(cfg.max_const, 5))),
            "use_y": rng.random() < cfg.use_y_prob,
            "branch": (rng.randint(5, 4 * cfg.max_const), rng.randint(1, cfg.max_const))
            if rng.random() < cfg.branch_prob
            else None,
        }

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        x, n, op, c, use_y, branch = (params[k] for k in ("x0", "n", "op", "c", "use_y", "branch"))
        opnd = "i" if op.endswith("i") else str(c)
        sym = op[0]
        lines = (
            [f"x = {x}"] + (["y = 0"] if use_y else []) + [f"for i in range({n}):", f"    x = x {sym} {opnd}"]
        )
        if branch:
            lines += [f"    if x > {branch[0]}:", f"        x = x - {branch[1]}"]
        if use_y:
            lines.append("    y = y + x")
        lines.append("print(x, y)" if use_y else "print(x)")
        program = "\n".join(lines) + "\n"
        steps: list[str] = []
        y = 0
        for i in range(n):
            b = i if opnd == "i" else c
            new = {"+": x + b, "-": x - b, "*": x * b}[sym]
            new = tamper.at(len(steps), new, swapped=(b - x) if sym == "-" else None)
            steps.append(f"i is {i}, x: {_p(x)} {sym} {b} = {new}")
            x = new
            if branch and x > branch[0]:
                new = tamper.at(len(steps), x - branch[1], swapped=branch[1] - x)
                steps.append(f"i is {i}, x > {branch[0]} so x: {_p(x)} - {branch[1]} = {new}")
                x = new
            if use_y:
                new = tamper.at(len(steps), y + x)
                steps.append(f"i is {i}, y: {_p(y)} + {_p(x)} = {new}")
                y = new
        answer = f"{x} {y}" if use_y else str(x)
        prompt = f"What does this Python program print?\n\n```python\n{program}```"
        return Solution(prompt, answer, steps, {"program": program, "step_check": "equal"})

    def validate(self, sol: Solution) -> bool:
        from data_gen.code_specs import validate_stdio

        return validate_stdio(sol.meta["program"], [{"input": "", "output": sol.answer}])

    def score(self, item: dict[str, Any], response: str) -> float:
        from data_gen.answers import extract_answer

        return 1.0 if " ".join(extract_answer(response).split()) == item["answer"] else 0.0


TASK = CodeOutput()
