"""The code sandbox on ordinary programs: verdicts, counts, stdio comparison, batch, reward."""

from __future__ import annotations

import pytest

from rewards.code.verify import (
    CodeJob,
    CodeTestsReward,
    compare_output,
    extract_code,
    run_batch,
    run_stdio,
    run_tests,
)
from rewards.types import Problem

ADD = "def add(a, b):\n    return a + b\n"


def test_asserts_pass_and_are_counted():
    r = run_tests(ADD, "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n")
    assert r.passed and r.status == "passed" and (r.n_passed, r.n_total) == (2, 2)


def test_failed_asserts_are_counted_and_described():
    r = run_tests(ADD, "assert add(1, 2) == 3\nassert add(2, 2) == 5\nassert add(0, 0) == 1\n")
    assert not r.passed and r.status == "failed" and (r.n_passed, r.n_total) == (1, 3)
    assert "line 2" in r.detail


def test_each_assert_reports_how_it_ended():
    program = ADD + "def boom():\n    raise KeyError('k')\n"
    r = run_tests(program, "x = 1\nassert add(1, 2) == 3\nassert add(2, 2) == 5\nboom()\nassert boom()\n")
    assert r.outcomes == ("passed", "AssertionError", "KeyError")  # one per assert, not per statement


def test_outcomes_before_a_timeout_are_kept():
    program = "def f(n):\n    while n < 0:\n        pass\n    return n\n"
    tests = "assert f(1) == 1\nassert f(2) == 3\nassert f(-1) == 1\nassert f(4) == 4\n"
    r = run_tests(program, tests, timeout_s=1)
    assert r.status == "timeout" and r.outcomes[:2] == ("passed", "AssertionError") and len(r.outcomes) <= 3


def test_humaneval_check_with_entry_point_and_helpers():
    program = "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n\ndef root(xs):\n    return 0.0\n"
    tests = "def check(candidate):\n    assert abs(poly([0, 2], candidate([0, 2]))) < 1e-9\n"
    assert run_tests(program, tests, entry_point="root").passed
    bad = run_tests(program.replace("return 0.0", "return 1.0"), tests, entry_point="root")
    assert bad.status == "failed" and bad.n_total == 1


def test_missing_entry_point_fails():
    r = run_tests(ADD, "def check(candidate):\n    assert candidate(1, 1) == 2\n", entry_point="plus")
    assert r.status == "failed" and "plus" in r.detail


def test_exceptions_raised_by_program_reach_tests_as_same_type():
    program = "def f(x):\n    if x < 0:\n        raise ValueError('neg')\n    return x\n"
    tests = "try:\n    f(-1)\n    ok = False\nexcept ValueError:\n    ok = True\nassert ok\n"
    assert run_tests(program, tests).passed


def test_program_error_at_import_is_crashed():
    r = run_tests("def f(:\n", "assert f() == 1\n")
    assert r.status == "crashed" and "SyntaxError" in r.detail
    r = run_tests("raise RuntimeError('boom')\n", "assert True\n")
    assert r.status == "crashed" and "boom" in r.detail


def test_classes_generators_and_data_values_cross_the_boundary():
    program = (
        "LIMIT = 3\nclass Counter:\n    def __init__(self, n):\n        self.n = n\n"
        "    def up(self):\n        self.n += 1\n        return self.n\n"
        "def gen(n):\n    yield from range(n)\n"
    )
    tests = "c = Counter(LIMIT)\nassert c.up() == 4\nassert c.up() == 5\nassert list(gen(3)) == [0, 1, 2]\n"
    assert run_tests(program, tests).passed


def test_plain_values_keep_their_types():
    program = "def f():\n    return (1, [2.5, float('inf')], {'a': {3}}, b'x', None, True, 10 ** 5000)\n"
    tests = (
        "v = f()\nassert v == (1, [2.5, float('inf')], {'a': {3}}, b'x', None, True, 10 ** 5000)\n"
        "assert type(v[0]) is int and type(v[1]) is list\n"
    )
    assert run_tests(program, tests).passed


def test_tests_that_do_not_parse_or_hold_no_test_are_sandbox_errors():
    assert run_tests(ADD, "assert (").status == "sandbox_error"
    assert run_tests(ADD, "x = 1\n").status == "sandbox_error"


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("1\n2\n", "1\n2\n", True),
        ("1\n2", "1  \n2\n\n", True),
        ("1\n2\n", "1\n", False),
        ("1\n", "1\n2\n", False),
        ("1\n2\n", "1\n3\n", False),
        ("", "", True),
        ("a", "A", False),
    ],
)
def test_compare_output_checks_every_line(expected, actual, ok):
    assert compare_output(expected, actual)[0] is ok


def test_compare_output_strict():
    assert compare_output("1\n2\n", "1\r\n2\r\n", strict=True)[0]
    assert not compare_output("1\n2\n", "1 \n2\n", strict=True)[0]
    assert not compare_output("1\n", "1\n\n", strict=True)[0]


def test_stdio_cases():
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    r = run_stdio(program, [("1 2\n", "3\n"), ("5 5\n", "10\n"), ("0 0\n", "1\n")])
    assert r.status == "failed" and (r.n_passed, r.n_total) == (2, 3) and "case 3" in r.detail
    assert run_stdio(program, [{"input": "2 3", "output": "5"}]).passed


def test_stdio_outcomes_per_case_and_stop_on_timeout():
    program = "n = int(input())\nwhile n == 0:\n    pass\nprint(2 * n)\n"
    cases = [("1\n", "2"), ("2\n", "5"), ("x\n", "1"), ("0\n", "0"), ("3\n", "6")]
    r = run_stdio(program, cases, timeout_s=1, stop_on_timeout=True)
    assert r.outcomes == ("passed", "failed", "crashed", "timeout")  # no case after the timeout
    assert run_stdio(program, cases[:3], timeout_s=1).outcomes == ("passed", "failed", "crashed")


def test_stdio_nonzero_exit_is_crashed():
    r = run_stdio("import sys\nprint(1)\nsys.exit(3)\n", [("", "1\n")])
    assert r.status == "crashed"


def test_batch_keeps_order_and_mixes_modes():
    jobs = [
        CodeJob(ADD, "assert add(1, 1) == 2\n"),
        CodeJob(ADD, "assert add(1, 1) == 3\n"),
        CodeJob("print(input()[::-1])\n", cases=(("abc\n", "cba\n"),)),
    ]
    assert [r.status for r in run_batch(jobs, max_workers=2)] == ["passed", "failed", "passed"]


def test_extract_code():
    assert extract_code("<think>x</think><answer>```python\nprint(1)\n```</answer>") == "print(1)"
    assert extract_code("<answer>def f():\n    return 1</answer>") == "def f():\n    return 1"
    assert extract_code("text\n```py\nA = 1\n```\nmore\n```python\nB = 2\n```") == "B = 2"
    assert extract_code("no code here") is None
    assert extract_code("") is None


def test_code_tests_reward():
    meta = {
        "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
        "prefix": "def add(a, b):\n",
    }
    p = Problem(id="1", task="code", prompt="", answer="", meta=meta)
    rew = CodeTestsReward(timeout_s=2)
    comps = [
        "<answer>```python\n    return a + b\n```</answer>",
        "<answer>def add(a, b):\n    return a * b</answer>",
        "I don't know",
        "<answer>```python\ndef add(a, b):\n    return b + a\n```</answer>",
    ]
    assert rew([p] * 4, comps) == [1.0, 0.0, 0.0, 1.0]


def test_a_forked_host_gets_its_own_fork_server():
    import os

    from rewards.code import sandbox as code_sandbox

    assert run_tests(ADD, "assert add(1, 1) == 2\n").passed
    parent_server = code_sandbox._server
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child must not talk through the parent's pipes
        try:
            ok = (
                run_tests(ADD, "assert add(2, 2) == 4\n").passed and code_sandbox._server is not parent_server
            )
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
    assert run_tests(ADD, "assert add(3, 3) == 6\n").passed and code_sandbox._server is parent_server


def test_a_dead_fork_server_is_replaced():
    from rewards.code import sandbox as code_sandbox

    assert run_tests(ADD, "assert add(1, 1) == 2\n").passed
    old = code_sandbox._server
    old.proc.kill()
    old.proc.wait()
    assert run_tests(ADD, "assert add(1, 2) == 3\n").passed
    assert code_sandbox._server is not old and code_sandbox._server.alive


def test_code_tests_reward_reads_test_lists_and_stdio_cases():
    rew = CodeTestsReward(timeout_s=2, partial=True)
    p1 = Problem(
        id="1",
        task="code",
        prompt="",
        answer="",
        meta={"tests": ["assert add(1, 1) == 2", "assert add(1, 2) == 4"]},
    )
    p2 = Problem(
        id="2",
        task="code",
        prompt="",
        answer="",
        meta={"cases": [["3\n", "6\n"], {"input": "1", "output": "2"}]},
    )
    got = rew(
        [p1, p2],
        ["<answer>def add(a, b):\n    return a + b</answer>", "<answer>print(2 * int(input()))</answer>"],
    )
    assert got == [0.5, 1.0] and rew.statuses() == ["failed", "passed"]
