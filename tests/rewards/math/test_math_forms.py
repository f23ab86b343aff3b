"""Answers as real datasets and models write them: whole texts on either side, display
math, relations, labelled answers, matrices, separators, rounded decimals, and the false
positives and reward-hacking doors that must stay shut."""

from __future__ import annotations

import time

import pytest

from rewards.math.extract import answer_of, extract_answer, is_bare_answer
from rewards.math.forms import is_hedged, ratio_as_tuple, strip_labels
from rewards.math.pool import WorkerPool
from rewards.math.verify import STATUSES, MathAnswerReward, verify
from rewards.types import Problem

ACCEPTED = [
    # the answer tag and display math inside `verify`
    ("0.25", r"<answer>\frac{1}{4}</answer>"),
    ("$12$", "So we get \\[ 12 \\]"),
    ("$12$", "Hence \\( 12 \\)"),
    ("$12$", "Result $$ \n 12 \n $$"),
    # relations in LaTeX and ASCII
    ("y >= 2", r"y \geq 2"),
    ("t < -1", r"t \lt -1"),
    ("z > 0", r"z \gt 0"),
    (r"a \neq 4", "a != 4"),
    # intervals against inequalities and chains
    (r"x \in [-3,8]", r"-3 \le x \le 8"),
    ("(2,5)", "2<g(t)<5"),
    ("2<g(t)<5", "(2,5)"),
    # labelled answers
    ("(5,1)", "(m,n)=(5,1)"),
    (r"\boxed{6, 9}", "PQ=6,RS=9"),
    ("3:7", "A_1:A_2=3:7"),
    ("8", "|PQ|=8"),
    # matrices, with spaces around row separators, other brackets and arithmetic
    (r"\begin{pmatrix}5 \\ 6\end{pmatrix}", r"\begin{pmatrix}5\\6\end{pmatrix}"),
    (r"\begin{pmatrix}1 & 0 \\ 2 & 5\end{pmatrix}", r"\begin{bmatrix}1 & 0 \\ 2 & 5\end{bmatrix}"),
    (
        r"\begin{pmatrix}1 & 0 \\ 2 & 5\end{pmatrix}",
        r"\left[\begin{array}{cc}1 & 0 \\ 2 & 5\end{array}\right]",
    ),
    (r"\begin{pmatrix}3 & 0 \\ 6 & 15\end{pmatrix}", r"3\begin{pmatrix}1 & 0 \\ 2 & 5\end{pmatrix}"),
    # thousands separators and units glued to the number
    ("22222222200", r"\boxed{22,\! 222,\! 222,\! 200}"),
    ("2000.5", "it costs 2,000.5€"),
    ("2000.5", "the area is 2,000.5m²"),
    ("3000", "3{,}000"),
    # rounded decimals (four digits or more)
    (r"(\frac{2}{5},\frac{7}{3}]", "(0.4,2.3333]"),
    ("8/3", "2.6667"),
    # GSM8K and "the final answer is"
    ("48", "She sold 16 + 32 = 48 clips.\n#### 48"),
    ("48", "Adding them up, the final answer is 48. I hope it is correct."),
    ("34", "Final Answer: The largest $n$ is 34."),
    # several values stated as quoted math spans after "the final answer is"
    (r"\boxed{4\text{ and }9}", 'so it lies between $4$ and $9$. The final answer is "$4 $ and $9 $".'),
    # a chain on an absolute value is the union it describes
    (r"2\le|w|\le 5", r"w \in [-5,-2] \cup [2,5]"),
    (r"0<|w|<1", r"(-1,0) \cup (0,1)"),
    # boxes with a label or punctuation between them are one answer of several values
    (r"\boxed{3} apples and \boxed{5} pears", r"\boxed{3, 5}"),
    (r"\boxed{(1, 2)} \text{ in part (i), and } \boxed{(4, 0)}", "(1, 2), (4, 0)"),
    (r"\boxed{7 kg} ++ \boxed{2}", "{7 kg, 2}"),
]
REJECTED = [
    # known false positives of math-verify
    (r"\frac{1}{2004!}", r"\frac{1}{2006!}"),
    ("4", r"4\sqrt{2}"),
    ("3x-y+13=0", "3x+4y+14=0"),
    ("x = 2, y = 3", "(3, 2)"),
    # hedges and times
    ("100", "100 or 200"),
    ("7", r"\boxed{7 \text{ or } 8}"),
    ("$12:00$", "$1:00$"),
    # the gold's answer is its last box, not every box
    (r"\boxed{1} no no no \boxed{2}", r"\boxed{1,2}"),
    (r"\boxed{1} wait, no: \boxed{2}", r"\boxed{1,2}"),
    (r"we get \boxed{5} and then, after checking, \boxed{6}", r"\boxed{5,6}"),
    (r"2\le|w|\le 5", r"[-5,5]"),
    (r"2\le|w|\le 5", r"[2,5]"),
    # rounding with few digits is an approximation, not the answer
    (r"\pi", "3.14"),
    ("8/3", "2.67"),
]


@pytest.mark.parametrize(("gold", "pred"), ACCEPTED)
def test_forms_a_person_accepts_are_correct(gold, pred):
    v = verify(gold, pred)
    assert v.correct and v.status == "correct", v


@pytest.mark.parametrize(("gold", "pred"), REJECTED)
def test_false_positives_and_hedges_are_rejected(gold, pred):
    v = verify(gold, pred)
    assert not v.correct and v.status in ("incorrect", "unparsable"), v


SOLUTION = (
    r"The two roots are $x=2$ and $x=3$, so their product is $2 \cdot 3 = 6$. "
    r"Adding the constant gives $6 + \frac{1}{2} = \boxed{\frac{13}{2}}$."
)
TRACE = (
    "<think>\nLet me compute 6 + 1/2 = 13/2 carefully, maybe 7?\n</think>\nSo the answer is $\\frac{13}{2}$."
)


def test_either_side_may_be_a_whole_text_in_either_order():
    for gold, pred in [(SOLUTION, "6.5"), ("13/2", TRACE), (SOLUTION, TRACE), (TRACE, SOLUTION)]:
        assert verify(gold, pred).correct, (gold[:30], pred[:30])
    assert verify("<answer>21</answer>", "21").correct
    assert verify("21", "<think>7 * 3</think><answer>21</answer>").correct
    assert not verify(SOLUTION, "6").correct


def test_a_gold_without_an_answer_is_an_error_and_a_prediction_without_one_unparsable():
    prose = "We think about it for a long time.\nThen we stop thinking about it at all."
    assert verify(prose, "7").status == "error"
    assert verify("7", prose).status == "unparsable"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"The probability is \frac{1}{6}", r"\frac{1}{6}"),
        (r"so x \in [2, 5) holds", None),
        (r"the matrix \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", None),
        (r"we get 2^{10} here", None),
        ("a total of 1{,}000 apples", "1{,}000"),
        ("about 42 dollars", "42"),
        ("increase by 100% overall", "100%"),
    ],
)
def test_last_number_never_takes_a_piece_of_an_object(text, expected):
    assert extract_answer(text, ("last_number",)) == expected


def test_math_answer_reward_is_not_paid_by_a_number_inside_an_object():
    reward = MathAnswerReward()
    six = Problem(id="p", task="t", prompt="?", answer="6")
    sixth = Problem(id="q", task="t", prompt="?", answer="1/6")
    five = Problem(id="r", task="t", prompt="?", answer="5")
    thousand = Problem(id="s", task="t", prompt="?", answer="1000")
    text = r"The probability is \frac{1}{6}"
    assert reward([six, sixth], [text, text]) == [0.0, 1.0]
    assert reward([five, thousand], [r"x \in [2, 5)", "so 1{,}000"]) == [0.0, 1.0]


def test_bare_answers_and_texts_are_told_apart():
    for bare in ["12 cm", "x = 8 or x = -9", r"\text{Evelyn}", r"$\frac{1}{2}$", "AB=4,CD=5", "(A)"]:
        assert is_bare_answer(bare), bare
        assert answer_of(bare) == bare
    for text in ["The answer is 7.", r"so \boxed{3}", "Answer \\[ 9 \\]", "we have $x$ and then 4 more"]:
        assert not is_bare_answer(text), text
    assert answer_of("New York") == "New York"  # a short line with nothing to extract is the answer


def test_string_forms():
    assert is_hedged("100 or 200", "100") and not is_hedged("100 or 200", "100, 200")
    assert not is_hedged("x = 8 or x = 8", "8")
    assert strip_labels("(p,q) = (3,2)", "(3,2)") == "(3,2)"
    assert strip_labels("AB = 4, CD = 5", "4, 5") == "4, 5"
    assert strip_labels("y = 2x + 1", "y = 2x+1") == "y = 2x + 1"  # gold is a relation: kept
    assert ratio_as_tuple("12:00") == "(12, 00)" and ratio_as_tuple("x:y=1:2") == "x:y=1:2"


HOSTILE = [
    "7" * 1_000_000,
    "x " * 500_000,
    r"\frac{" * 2000 + "1" + "}" * 2000,
    r"\begin{pmatrix}" + r" \\ ".join(" & ".join("1" * 100) for _ in range(100)) + r"\end{pmatrix}",
    r"\boxed{\begin{pmatrix}" + r" \\ ".join(" & ".join(["1"] * 100) for _ in range(100)) + r"\end{pmatrix}}",
    "}}{{" * 1000 + r"\boxed{1",
    bytes(range(256)).decode("latin-1") * 100,
    "<answer>" + "(" * 5000 + "</answer>",
]


@pytest.mark.parametrize("pred", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_get_a_status_within_the_deadline(pred):
    pool = WorkerPool(size=1)
    try:
        t0 = time.perf_counter()
        for gold, p in (("1", pred), (pred, "1")):
            v = verify(gold, p, timeout_s=3.0, pool=pool)
            assert v.status in STATUSES and not v.correct, v
        assert time.perf_counter() - t0 < 15.0
        workers = list(pool._idle.queue)
        assert len(workers) == pool.size  # every worker is back (killed ones replaced)
    finally:
        pool.close()
    assert all(w.proc.poll() is not None for w in workers)  # none left behind
