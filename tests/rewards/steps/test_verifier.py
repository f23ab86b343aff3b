"""Rule-based step verifier on hand-written traces, gold and corrupted, tidy and free-form."""

from __future__ import annotations

import pytest

from rewards.steps import Verdict, extract_claims, first_error, verify_steps
from rewards.types import Problem

ARITH = {
    "id": "a1",
    "task": "integer_arithmetic",
    "prompt": "Compute 12 + 7 * 3.",
    "answer": "33",
    "meta": {"expression": "12 + 7 * 3"},
}
LINEAR = {"id": "l1", "task": "linear_equation", "prompt": "Solve 2x + 3 = 11 for x.", "answer": "4"}


def verdicts(problem, steps):
    return [v.verdict.value for v in verify_steps(problem, steps)]


def test_gold_arithmetic_rewrites_are_correct():
    steps = ["Multiply: 12 + 7 * 3 = 12 + 21", "Add: 12 + 21 = 33", "<answer>33</answer>"]
    assert verdicts(ARITH, steps) == ["correct"] * 3
    assert first_error(ARITH, steps) == -1
    assert first_error(Problem.from_dict(ARITH), steps) == -1  # the Problem type works too


@pytest.mark.parametrize(
    "bad_step, index",
    [
        ("Multiply: 12 + 7 * 3 = 12 + 22", 0),  # wrong product
        ("Multiply: 12 + 7 * 3 = 19 * 3", 0),  # wrong order of operations
        ("Add: 12 + 21 = 23", 1),  # dropped carry
    ],
)
def test_injected_error_is_the_first_error(bad_step, index):
    steps = ["Multiply: 12 + 7 * 3 = 12 + 21", "Add: 12 + 21 = 33", "<answer>33</answer>"]
    steps[index] = bad_step
    assert first_error(ARITH, steps) == index


def test_error_carried_forward_is_reported_once_at_its_origin():
    steps = ["Multiply: 12 + 7 * 3 = 12 + 22", "Add: 12 + 22 = 34", "<answer>34</answer>"]
    assert verdicts(ARITH, steps) == ["incorrect", "correct", "incorrect"]  # local check, wrong answer
    assert first_error(ARITH, steps) == 0


def test_equations_checked_against_the_solution_and_restating_is_neutral():
    gold = [
        "We need 2x + 3 = 11.",
        "Subtract 3 from both sides: 2*x = 11 - 3 = 8",
        "Divide by 2: x = 8/2 = 4",
        "<answer>4</answer>",
    ]
    assert verdicts(LINEAR, gold) == ["neutral", "correct", "correct", "correct"]
    bad = ["Subtract 3 from both sides: 2x = 14", "x = 7", "<answer>7</answer>"]
    assert first_error(LINEAR, bad) == 0
    # the solution may come from meta instead of solving the prompt
    meta_problem = {**LINEAR, "prompt": "Find the unknown.", "meta": {"variable": "x", "solution": 4}}
    assert verdicts(meta_problem, ["x + 1 = 5", "x = 5"]) == ["correct", "incorrect"]


def test_free_form_model_output():
    steps = [
        "Okay, let's think about this carefully.",
        "First, 7×3 is 21, so 7 × 3 = 21.",
        "Then we have **12 + 21 = 33**, which gives the total.",
        "Therefore, the final answer is 33.",
    ]
    assert verdicts(ARITH, steps) == ["unverifiable", "correct", "correct", "correct"]
    wrong = ["First, 7 × 3 = 24, a common slip", "then 12+24 = 36", "The answer is 36"]
    assert first_error(ARITH, wrong) == 0
    latex = ["$\\frac{1}{2} \\times 4 = 2$", "$2^{3} = 8$", "\\boxed{33}"]
    assert verdicts(ARITH, latex) == ["correct", "correct", "correct"]


def test_definitions_rounding_and_identities():
    steps = [
        "Let t = 7 * 3 = 21",
        "t + 12 = 33",
        "10/3 = 3.33, and 10/3 ≈ 3",
        "2(x + 1) = 2x + 2",
        "sqrt(8) = 2*sqrt(2)",
        "1,000 * 5% = 50",
    ]
    assert verdicts(ARITH, steps) == ["correct"] * 6
    assert verdicts(ARITH, ["10/3 = 3.4"]) == ["incorrect"]
    assert verdicts(ARITH, ["10/3 = 3"]) == ["incorrect"]  # no rounding without ≈
    assert verdicts(ARITH, ["Let t = 5"]) == ["neutral"]


def test_bad_input_is_never_a_crash():
    noise = [
        "",
        "%%%%",
        "=====",
        "((((1+",
        "9^9^9^9 = 5",
        "x" * 5000,
        "1 = = 2",
        "5/0 = 1",
        "2 ^ -0.5 = 7",
        "\x00\x01 = \x02",
        "=" * 300 + "1" * 300,
    ]
    out = verdicts(ARITH, noise)
    assert len(out) == len(noise)
    assert out[4] == "unverifiable"  # too large to check, not a hang
    assert out[7] == "incorrect"  # division by zero
    assert verdicts(ARITH, []) == []
    many = [f"{i} + 1 = {i + 1}" for i in range(2000)]
    assert first_error(ARITH, many) == -1
    with pytest.raises(ValueError, match="missing"):
        first_error({"prompt": "x"}, ["1 = 1"])


def test_code_tasks_check_only_execution_arithmetic():
    code = {
        "id": "c",
        "task": "code_output",
        "prompt": "x = 0\nfor i in range(2):\n    x = x + 4\nprint(x)",
        "answer": "8",
        "meta": {},
    }
    assert verdicts(code, ["i is 0, x: 0 + 4 = 4", "i is 1, x: 4 + 4 = 9"]) == ["correct", "incorrect"]
    assert verdicts(code, ["Expected: digit_sum(177403) = 154"]) == ["unverifiable"]  # a call, not (177403)


def test_claim_extraction_ignores_prose_letters():
    assert extract_claims("we have a total of 5 apples") == []
    assert [c.source for c in extract_claims("Step 2: 12 + 21 = 33.")] == ["12 + 21 = 33"]
    assert [c.source for c in extract_claims("Then (3 + 4) * 2 = 14")] == ["( 3 + 4 ) * 2 = 14"]
    assert len(extract_claims("x = 3, y = 4 and so x*y = 12")) == 3


def test_verdict_enum_values():
    assert {v.value for v in Verdict} == {"correct", "incorrect", "neutral", "unverifiable"}
