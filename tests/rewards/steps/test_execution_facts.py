"""Execution facts of code traces, run in the sandbox: which text is a fact, which program it is
checked against, and that a fact that cannot be run is unverifiable (None), never wrong."""

from __future__ import annotations

import pytest

from rewards.code.sandbox import sandbox_error
from rewards.registry import STEP_REWARDS
from rewards.steps import execution, first_error, verify_steps
from rewards.steps.execution import check_facts, extract_facts, program_info, prose
from rewards.types import Problem, StepSpan

SQ = {
    "id": "sq",
    "task": "code_function",
    "prompt": "Write sq(n) returning n squared.",
    "answer": "def sq(n):\n    return n * n\n",
    "meta": {"entry_point": "sq", "tests": "assert sq(3) == 9\n"},
}
MEAN = {**SQ, "id": "mean", "answer": "def mean(xs):\n    return sum(xs) / len(xs)\n", "meta": {}}
SUM_STDIN = {
    "id": "sum",
    "task": "code_stdio",
    "prompt": "Print the sum of the integers on stdin.",
    "answer": "import sys\nxs = [int(t) for t in sys.stdin.read().split()]\nprint(sum(xs))\n",
    "meta": {"cases": [{"input": "1 2\n", "output": "3"}]},
}


def verdicts(problem, steps):
    return [v.verdict.value for v in verify_steps(problem, steps)]


def test_call_facts_in_their_usual_forms_are_run():
    steps = [
        "Check: sq(3) = 9",
        "Check: sq(4) = 15",
        "so sq(5) returns 25.",
        "sq(2) == 4 and sq(3) -> 10",
        "len([1, 2]) = 2",
        "sq(-1) is 1",
        "sq('a') = 'aa'",  # the program raises: the claim is false
    ]
    assert verdicts(SQ, steps) == [
        "correct",
        "incorrect",
        "correct",
        "incorrect",
        "correct",
        "correct",
        "incorrect",
    ]
    assert first_error(SQ, steps) == 1


def test_rounded_floats_and_sequences_compare_as_written():
    steps = ["mean([1, 2, 2]) = 1.67", "mean([1, 2, 2]) = 1.6", "mean([1, 2]) = 1.5", "mean([]) = 0"]
    assert verdicts(MEAN, steps) == ["correct", "incorrect", "correct", "incorrect"]
    pairs = {**SQ, "answer": "def pair(a):\n    return [a, a]\n"}
    assert verdicts(pairs, ["pair(1) = (1, 1)", "pair(2) = [2, 3]"]) == ["correct", "incorrect"]


@pytest.mark.parametrize(
    "text",
    [
        "sq(x) = 9",  # not literal arguments
        "sq(2) = 3 + 1",  # an expression, not one value
        "sq(3) is 5 more than sq(2)",  # a comparison goes on
        "sq(2) = 4, 5",  # a tuple or a list of values: ambiguous
        "obj.sq(2) = 5",  # a method of something else
        "sq(2) = four",  # no literal value
        "other(2) = 5",  # a function the program does not define
    ],
)
def test_text_that_is_not_one_runnable_fact_is_not_read_as_one(text):
    assert extract_facts(text, 0, program_info(SQ["answer"])) == []
    assert verdicts(SQ, [text])[0] != "incorrect"


def test_code_is_not_read_as_claims():
    steps = [
        "Check: sq(2) = 4",
        "```python",
        "if sq(0) is None:",
        "    pass",
        "```",
        "<answer>x = sq(1) == 5</answer>",
    ]
    texts = prose(steps)
    assert texts[0] == steps[0] and texts[2].strip() == "" and "sq" not in texts[5]
    assert first_error(SQ, steps) == -1


def test_the_traces_own_program_is_the_one_checked():
    doubled = "<answer>```python\ndef sq(n):\n    return n + n\n```</answer>"
    assert verdicts(SQ, ["Check: sq(3) = 6", doubled])[0] == "correct"  # about the trace's program
    assert verdicts(SQ, ["Check: sq(3) = 6"]) == ["incorrect"]  # no program written: the reference


def test_a_humaneval_body_gets_the_problems_prefix():
    problem = {
        "id": "he",
        "task": "humaneval",
        "prompt": "def inc(x):\n",
        "answer": "    return x + 1\n",
        "meta": {
            "entry_point": "inc",
            "prefix": "def inc(x):\n",
            "tests": "def check(c):\n    assert c(1) == 2\n",
        },
    }
    assert verdicts(problem, ["inc(1) = 2", "inc(1) = 3"]) == ["correct", "incorrect"]
    body = "<answer>    return x + 2\n</answer>"
    assert verdicts(problem, ["inc(1) = 3", body])[0] == "correct"


def test_stdin_stdout_claims_are_run_for_programs_that_read_stdin():
    steps = ["input '1 2 3' prints '6'", "Input: 3 4 -> Output: 8", "stdin `5` gives stdout `5`"]
    assert verdicts(SUM_STDIN, steps) == ["correct", "incorrect", "correct"]
    assert verdicts(SQ, ["input '3' prints '9'"]) == ["unverifiable"]  # sq reads no stdin


def test_functions_of_a_program_whose_main_needs_input_still_run():
    program = "def dbl(n):\n    return 2 * n\n\n\nn = int(input())\nprint(dbl(n))\n"
    problem = {**SUM_STDIN, "answer": program}
    assert verdicts(problem, ["dbl(4) = 8", "dbl(4) = 9", "input '4' prints '8'"]) == [
        "correct",
        "incorrect",
        "correct",
    ]


def test_facts_that_cannot_run_are_unverifiable():
    info = program_info("def sq(n):\n    while n < 0:\n        pass\n    return n * n\n")
    facts = [
        f for i, s in enumerate(["sq(2) = 4", "sq(-1) = 1", "sq(3) = 9"]) for f in extract_facts(s, i, info)
    ]
    assert check_facts(info, facts) == [True, None, None]  # a timeout: what ran still counts
    assert check_facts(None, facts) == [None, None, None]  # no program
    broken = program_info("import not_a_module\n\ndef sq(n):\n    return n * n\n")
    assert check_facts(broken, facts) == [None, None, None]  # the program cannot start
    objects = program_info("class Box:\n    pass\n\ndef sq(n):\n    return Box()\n")
    assert check_facts(objects, facts[:1]) == [None]  # not plain data: cannot be compared
    no_program = {**SQ, "answer": "", "meta": {"entry_point": "sq"}}
    assert verdicts(no_program, ["sq(3) = 10"]) == ["unverifiable"]


def test_a_sandbox_error_is_unverifiable_not_wrong(monkeypatch):
    # an infrastructure failure cannot be provoked on demand: stand in for the sandbox's answer
    monkeypatch.setattr(execution, "run_tests", lambda *a, **k: sandbox_error("the fork server exited"))
    assert verdicts(SQ, ["sq(3) = 10", "sq(3) = 9"]) == ["unverifiable", "unverifiable"]


def test_the_facts_of_one_trace_run_in_one_sandbox_call(monkeypatch):
    calls = []
    real = execution.run_tests

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(execution, "run_tests", counting)
    steps = [f"Check: sq({k}) = {k * k + (k == 3)}" for k in range(6)]
    assert first_error(SQ, steps) == 3
    assert len(calls) == 1 and calls[0].count("assert ") == 6


def test_rule_step_reward_scores_code_traces_together():
    arith = {"id": "a", "task": "integer_arithmetic", "prompt": "Compute 7 * 3.", "answer": "21"}
    problems = [Problem.from_dict(d) for d in (SQ, MEAN, arith, SQ)]
    traces = [["sq(2) = 4", "sq(3) = 8", "hmm"], ["mean([2, 4]) = 3.0"], ["7 * 3 = 22"], ["sq(1) = 1"]]
    spans = [[StepSpan(i, i + 1, t) for i, t in enumerate(tr)] for tr in traces]
    pooled = STEP_REWARDS.get("rule")()
    serial = STEP_REWARDS.get("rule")(max_workers=1)
    assert (
        pooled.score_steps(problems, spans)
        == serial.score_steps(problems, spans)
        == [[1.0, 0.0, None], [1.0], [0.0], [1.0]]
    )
    with pytest.raises(ValueError, match="max_workers"):
        STEP_REWARDS.get("rule")(max_workers=0)
