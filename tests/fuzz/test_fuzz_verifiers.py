"""Hostile input to the answer verifier, the step verifier and step segmentation: random and
adversarial strings always end in a verdict (or a clear ValueError), within their deadlines."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.math.verify import STATUSES, verify
from rewards.steps import Verdict, verify_steps
from rewards.steps.segment import Segmenter, segment_completion

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# pieces that have broken parsers before: towers, huge literals, deep nesting, LaTeX, odd unicode
NASTY = [
    "9^9^9^9",
    "10**10**10",
    "1" * 400,
    "(" * 200 + "1" + ")" * 200,
    "\\frac{1}{0}",
    "1/0",
    "0^0",
    "x^x^x",
    "\\sqrt{-1}",
    "e^{i\\pi}",
    "\\infty",
    "nan",
    "inf",
    "1e999",
    "-0",
    "٣",
    "½",
    "x = x + 1",
    "\\boxed{",
    "}}}}",
    "<answer>",
    "</answer>",
    "<think>",
    "\n",
    "=",
    "==",
    "a/b/c/d",
    "2**-1000000",
    "sin(1e308)",
    "\\left(\\right)",
    "%",
    "\x00",
    "\u202e",
    "1,000,000",
    "3.14159" * 30,
]
math_text = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.one_of(st.sampled_from(NASTY), st.text(alphabet="0123456789+-*/^()=.x \\{}", max_size=12)),
        max_size=8,
    ).map("".join),
)
TIMEOUT = 2.0
SLACK = 20.0  # a loaded CI box: the point is "bounded", not "fast"


@SETTINGS
@given(math_text, math_text)
def test_answer_verifier_always_gives_a_verdict_in_time(gold, pred):
    t0 = time.perf_counter()
    v = verify(gold, f"<answer>{pred}</answer>", timeout_s=TIMEOUT)
    assert v.status in STATUSES and isinstance(v.correct, bool)
    assert time.perf_counter() - t0 < TIMEOUT + SLACK


PROBLEM = {
    "id": "p",
    "task": "linear_equation",
    "prompt": "Solve 2*x + 3 = 11.",
    "answer": "4",
    "solution_steps": ["Subtract 3 from both sides: 2*x = 8", "Divide by 2: x = 4"],
    "meta": {"a": 2, "b": 3, "c": 11},
    "difficulty": {},
    "messages": [],
}
ARITH = {
    "id": "q",
    "task": "integer_arithmetic",
    "prompt": "Compute 7 * 3 + 2.",
    "answer": "23",
    "solution_steps": ["Multiply: 7 * 3 = 21", "Add: 21 + 2 = 23"],
    "meta": {},
    "difficulty": {},
    "messages": [],
}


@SETTINGS
@given(st.sampled_from([PROBLEM, ARITH]), st.lists(math_text, max_size=5))
def test_step_verifier_gives_one_verdict_per_step(problem, steps):
    t0 = time.perf_counter()
    out = verify_steps(problem, steps)
    assert len(out) == len(steps) and all(isinstance(v.verdict, Verdict) for v in out)
    assert time.perf_counter() - t0 < SLACK * max(1, len(steps))


CODE = {
    "id": "c",
    "task": "code_function",
    "prompt": "Write sq(n).",
    "answer": "def sq(n):\n    return n * n\n",
    "meta": {"entry_point": "sq", "tests": "assert sq(3) == 9\n"},
}
# execution facts that have to stay bounded: huge literals and results, deep nesting, hostile
# programs in the answer (loops, sleeps, exits, output floods), unbalanced brackets and quotes
CODE_NASTY = [
    "sq(3) = 9",
    "sq(",
    "sq(" * 300,
    "sq([" + "[" * 300 + "]) = 1",
    "sq(" + "9" * 5000 + ") = 1",
    "sq(2) = " + "1" * 5000,
    "sq(10**9) = 1",
    "sq('a' * 10) = 1",
    "pow(10, 100000000) = 1",
    "sorted([3, 1]) = [1, 3]",
    "len('x') -> 1",
    "sq(2) is None",
    "input '1' prints '1'",
    "```python",
    "```",
    "<answer>def sq(n):\n    while True:\n        pass\n</answer>",
    "<answer>import time\ndef sq(n):\n    time.sleep(60)\n</answer>",
    "<answer>import os\nos._exit(0)\ndef sq(n):\n    return 1\n</answer>",
    "<answer>def sq(n):\n    print('x' * 10**8)\n    return 1\n</answer>",
    "<answer>def sq(n):\n    return [[]] * 10**8\n</answer>",
    "'",
    '"',
    "sq(1) = '",
]
code_text = st.lists(st.one_of(st.sampled_from(CODE_NASTY), math_text), max_size=4).map(" ".join)


@pytest.mark.slow  # hostile programs run into the sandbox's CPU and wall limits (seconds each)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(code_text, max_size=4))
def test_step_verifier_on_code_traces_gives_one_verdict_per_step_in_time(steps):
    t0 = time.perf_counter()
    out = verify_steps(CODE, steps)
    assert len(out) == len(steps) and all(isinstance(v.verdict, Verdict) for v in out)
    assert time.perf_counter() - t0 < 30.0  # one sandbox batch per trace (4 s wall each) and a fallback


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["id", "task", "prompt", "answer", "meta", "solution_steps"]),
        st.one_of(
            st.text(max_size=20),
            st.integers(),
            st.none(),
            st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
        ),
        max_size=6,
    ),
    st.lists(math_text, max_size=3),
)
def test_step_verifier_on_hostile_problems_gives_a_verdict_or_a_clear_error(problem, steps):
    try:
        out = verify_steps(problem, steps)
    except (ValueError, TypeError) as exc:
        assert str(exc)
    else:
        assert len(out) == len(steps)


@SETTINGS
@given(st.text(max_size=300), st.sampled_from(["think", "newline", "blank_line", "step_marker"]))
def test_text_segmentation_covers_only_the_text(text, mode):
    try:
        seg = Segmenter(mode=mode)
    except ValueError:
        return  # a mode this version does not have is refused clearly
    steps = segment_completion(text, [], None, seg)
    for s in steps:
        assert s.text.strip() and s.text.strip() in text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_token_segmentation_spans_are_ordered_and_in_range(tiny_tokenizer, data):
    vocab = len(tiny_tokenizer)
    think = tiny_tokenizer.encode(
        "<think>\n1 + 1 = 2\n</think>\n<answer>2</answer>", add_special_tokens=False
    )
    ids = data.draw(st.lists(st.one_of(st.integers(0, vocab - 1), st.sampled_from(think)), max_size=60))
    spans = segment_completion("", ids, tiny_tokenizer)
    last = 0
    for s in spans:
        assert last <= s.start <= s.end <= len(ids)
        last = s.end
