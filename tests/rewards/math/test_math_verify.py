"""Math verification: extraction, equivalence classes, known false positives, statuses,
hard timeouts and the math_answer reward."""

from __future__ import annotations

import threading
import time

import pytest

from rewards.math.extract import extract_answer
from rewards.math.normalize import parse_number, precheck, tower_height
from rewards.math.pool import WorkerPool
from rewards.math.verify import MathAnswerReward, verify, verify_batch
from rewards.types import Problem

EQUIVALENT = [
    ("21", "21"),
    ("21", "21.0"),
    ("1000", "1,000"),
    ("-3", "−3"),
    ("0.5", r"\frac{1}{2}"),
    ("3/4", r"\dfrac{3}{4}"),
    ("0.75", "3/4"),
    ("50\\%", "0.5"),
    ("50%", "50"),
    ("1500", "1.5e3"),
    ("1500", r"1.5\times 10^{3}"),
    (r"2\sqrt{3}", r"\sqrt{12}"),
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}"),
    (r"\frac{\pi}{2}", r"\pi/2"),
    ("e^2", "exp(2)"),
    ("x^2+2x+1", "(x+1)^2"),
    ("2x+3", "3+2*x"),
    (r"\sin^2 x + \cos^2 x", "1"),
    (r"\{1,2,3\}", r"\{3, 1, 2\}"),
    ("(1, 2)", r"\left(1,2\right)"),
    ("[1, 2)", "[1,2)"),
    (r"(-\infty, 3]", r"(-\infty,3]"),
    (r"x \in (-\infty, 2)", "x < 2"),
    ("x = 5", "5"),
    ("5", "x=5"),
    ("y = 2x + 1", "2y = 4x + 2"),
    ("y=2x+1", "2x - y + 1 = 0"),
    ("x > 3", "3 < x"),
    (r"x \le 3", r"3 \ge x"),
    ("x>3", r"(3, \infty)"),
    ("x = 2, y = 3", "(2, 3)"),
    ("x = 10, y = -8", "y = -8, x = 10"),
    ("-9, 8", "x = 8 or x = -9"),
    ("12", "12 cm"),
    ("12", r"12\text{ cm}"),
    ("90", r"90^\circ"),
    ("12.5", r"\$12.50"),
    ("(A)", "A"),
    ("yes", "Yes"),
    ("7", r"\boxed{7}"),
    ("7", "The answer is 7."),
]
NOT_EQUIVALENT = [
    ("21", "22"),
    ("0.5", "0.51"),
    ("3/4", "4/3"),
    (r"\frac{1}{2004!}", r"\frac{1}{2006!}"),
    ("4", r"4\sqrt(2)"),
    (r"4\sqrt{2}", "4"),
    ("3x-y+13=0", "3x+4y+14=0"),
    ("x^2+2x+1", "(x+1)^3"),
    ("2x+3", "2y+3"),
    (r"\{1,2,3\}", r"\{1,2\}"),
    ("[1, 2)", "[1, 2]"),
    ("(1, 2)", "(2, 1)"),
    ("x > 3", r"x \ge 3"),
    ("x > 3", "x < 3"),
    ("x = 2, y = 3", "(3, 2)"),
    ("x = 10, y = -8", "-8, 10"),
    ("(3, 2)", "(4, 1)"),
    ("yes", "no"),
    ("7", "seven apples"),
    ("1", "i don't know"),
    (r"\pi", "3.14"),
]


@pytest.mark.parametrize(("gold", "pred"), EQUIVALENT)
def test_equivalent_answers_are_correct(gold, pred):
    v = verify(gold, pred)
    assert v.correct and v.status == "correct", v


@pytest.mark.parametrize(("gold", "pred"), NOT_EQUIVALENT)
def test_different_answers_are_incorrect(gold, pred):
    v = verify(gold, pred)
    assert not v.correct and v.status in ("incorrect", "unparsable"), v


def test_tolerance_applies_to_decimals_only():
    assert verify("3.14159", "3.1416", rel_tol=1e-4).correct
    assert not verify("3.14159", "3.1416").correct
    assert not verify("1/3", "1/3.0001", rel_tol=0).correct


def test_restating_the_question_is_rejected():
    q = "Simplify (x^2 - 1)/(x - 1) for x != 1."
    assert not verify("x + 1", "(x^2 - 1)/(x - 1)", question=q).correct
    assert not verify("x + 1", r"\frac{x^2-1}{x-1}", question=r"Simplify $\frac{x^2-1}{x-1}$.").correct
    assert verify("x + 1", "1 + x", question=q).correct


def test_cheap_cases_never_touch_sympy():
    for gold, pred in [("21", "21"), ("21", "22"), ("3/4", "0.75"), ("x = 4", "4"), ("yes", "no")]:
        assert verify(gold, pred).path in ("string", "numeric", "text")


@pytest.mark.parametrize(
    "pred", [None, "", "   ", "\x00\x01\xff", "日本語", "\u202e\u200b", "}}}{{{", "\\frac{", "$$"]
)
def test_garbage_is_unparsable_or_incorrect_never_raises(pred):
    v = verify("7", pred)
    assert not v.correct and v.status in ("unparsable", "incorrect")


def test_prechecks_refuse_pathological_input_fast():
    nested = r"\frac{" * 300 + "1" + "}{2}" * 300
    for pred in [nested, "2^{2^{2^{2^{2}}}}", "9^{9^{9}}", "x^y^z", "10^{1000000}", "100000!", "1" * 5000]:
        t0 = time.perf_counter()
        v = verify("2", pred)
        assert v.status == "unparsable" and v.path == "precheck", (pred[:30], v)
        assert time.perf_counter() - t0 < 0.1
    assert tower_height("x^{2}") == 2 and tower_height("(x^2)^3") == 2 and tower_height("2^{3^{4}}") == 3
    assert precheck("2^{10} + 3!") is None


def test_parse_number_forms():
    assert parse_number("1,234,567").value == 1234567
    assert parse_number("-.5").value == parse_number("-0.5").value
    assert parse_number("25%").value * 4 == 1
    assert parse_number("1,2") is None and parse_number("2x") is None


def test_timeout_is_hard_and_the_pool_recovers_from_any_thread():
    pool = WorkerPool(size=1)
    try:
        assert pool.run({"gold": "1", "pred": "1"}, 30)["status"] == "correct"  # started and warm
        got: list = []
        th = threading.Thread(
            target=lambda: got.append(verify("2", "99999^{99999}!", timeout_s=1.0, pool=pool))
        )
        t0 = time.perf_counter()
        th.start()
        th.join(10)
        assert got and got[0].status == "timeout" and not got[0].correct
        assert time.perf_counter() - t0 < 3.0
        assert pool.restarts == 1
        assert verify("x^2", "x*x", pool=pool, timeout_s=60).correct  # the replacement worker answers
    finally:
        pool.close()


def test_unreadable_gold_is_an_error_not_a_zero():
    assert verify("", "3").status == "error"
    assert verify(r"\frac{", "3").status == "error"


def test_batch_matches_single():
    golds = ["21", "x+1", "3/4", r"\{1,2\}"]
    preds = ["21", "1+x", "0.7", r"\{2,1\}"]
    assert [v.correct for v in verify_batch(golds, preds)] == [True, True, False, True]
    with pytest.raises(ValueError):
        verify_batch(["1"], [])


@pytest.mark.parametrize(
    ("text", "modes", "expected"),
    [
        ("<think>\n7 * 3 = 21\n</think>\n<answer>21</answer>", None, "21"),
        ("<answer>first</answer> then <answer>\\boxed{42}</answer>", None, "42"),
        (r"so the result is \boxed{\frac{1}{2}} done", None, r"\frac{1}{2}"),
        (r"\boxed{\frac{1}{2}", ("boxed",), None),
        ("we get $x = 3$ and then $y = 4$", None, "y = 4"),
        ("the total is 1,234 apples, or 17 boxes", None, "17"),
        ("no answer", None, None),
        ("<think>so 42</think><answer></answer>", None, None),
        ("<answer>5</answer> \\boxed{6}", ("boxed",), "6"),
    ],
)
def test_extract_answer(text, modes, expected):
    assert (extract_answer(text) if modes is None else extract_answer(text, modes)) == expected


def test_extract_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown extraction mode"):
        extract_answer("x", ("nope",))


def test_math_answer_reward_on_gold_completions():
    p1 = Problem(id="a", task="arith", prompt="What is 7 * 3?", answer="21")
    p2 = Problem(id="b", task="linear", prompt="Solve 2*x + 3 = 11 for x.", answer="4")
    p3 = Problem(id="c", task="frac", prompt="Add 1/4 and 1/2.", answer="3/4")
    gold = "<think>\nMultiply: 7 * 3 = 21\n</think>\n<answer>21</answer>"
    reward = MathAnswerReward()
    scores = reward(
        [p1, p1, p1, p2, p2, p3, p3],
        [
            gold,
            "<think>\n</think>\n<answer>22</answer>",
            "",
            "<answer>x = 4</answer>",
            "<answer>2*x + 3 = 11</answer>",
            "<answer>0.75</answer>",
            "<answer>\\frac{3}{4}</answer>",
        ],
    )
    assert scores == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert reward.statuses()[0] == "correct"
    assert MathAnswerReward()([Problem(id="d", task="t", prompt="", answer="")], ["<answer>1</answer>"]) == [
        None
    ]


def test_math_answer_reward_validates_params():
    with pytest.raises(ValueError, match="tolerance"):
        MathAnswerReward(tolerance=-1)
    with pytest.raises(ValueError, match="modes"):
        MathAnswerReward(modes=("bogus",))


def test_a_worker_killed_from_outside_is_an_error_then_replaced():
    pool = WorkerPool(size=1)
    try:
        assert pool.run({"gold": "x^2", "pred": "x*x"}, 60)["status"] == "correct"
        worker = pool._idle.queue[0]
        worker.proc.kill()
        worker.proc.wait()
        v = verify("x^2", "x*x", pool=pool, timeout_s=60)
        assert v.status == "error" and not v.correct
        assert verify("x^2", "x*x", pool=pool, timeout_s=60).correct
    finally:
        pool.close()


def test_many_threads_share_one_pool():
    pool = WorkerPool(size=2)
    try:
        cases = [(f"(x+{k})^2", f"x^2 + {2 * k}x + {k * k}", True) for k in range(1, 9)]
        cases += [(f"(x+{k})^2", f"x^2 + {2 * k}x + {k * k + 1}", False) for k in range(1, 9)]
        got: dict[int, bool] = {}

        def work(i: int) -> None:
            g, p, _ = cases[i]
            got[i] = verify(g, p, pool=pool, timeout_s=60).correct

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [got.get(i) for i in range(len(cases))] == [c[2] for c in cases]
    finally:
        pool.close()


@pytest.mark.parametrize(
    "junk",
    [
        "<answer>" * 50_000,
        "\\[" * 100_000,
        "\\(" * 100_000,
        "$" * 200_000,
        "\\boxed{" * 100_000,
        "```python\n" * 50_000,
        "1" * 2_000_000,
    ],
)
def test_extraction_is_linear_on_megabytes_of_junk(junk):
    from rewards.code.verify import extract_code

    t0 = time.perf_counter()
    extract_answer(junk)
    extract_code(junk)
    verify("1", junk)
    assert time.perf_counter() - t0 < 2.0


def test_absolute_tolerance_and_problem_meta():
    assert verify("7.92", "7.92004", abs_tol=5e-5).correct
    assert not verify("7.92", "7.9201", abs_tol=5e-5).correct
    assert verify(r"\sqrt{2}", "1.4142", abs_tol=1e-4).correct
    p = Problem(id="d", task="dosage", prompt="Dose?", answer="7.92", meta={"abs_tol": 0.005})
    assert MathAnswerReward()([p], ["<answer>7.923</answer>"]) == [1.0]
    assert MathAnswerReward(use_problem_tolerance=False)([p], ["<answer>7.923</answer>"]) == [0.0]
