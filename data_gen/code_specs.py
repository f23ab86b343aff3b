"""Parametric function specs shared by the code families (write, fix, stdin/stdout).

A spec is a description, a reference implementation as source text, plausible bugs as
text edits of that source, and an input sampler. Expected outputs are computed by
executing the reference source in-process (it is our own generated code), and the
reference is then re-run against the written tests in the project's sandbox before an
item is emitted (`validate_tests`), so source, tests and expected values always agree.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Inputs = Callable[[random.Random], tuple[Any, ...]]


@dataclass(frozen=True)
class Spec:
    name: str  # function name
    args: str  # parameter list
    doc: str  # what it returns, with the parameters filled in
    source: str  # reference implementation
    bugs: tuple[tuple[str, str], ...]  # (old, new) text edits that break it
    inputs: Inputs
    list_io: bool  # takes one list of ints and returns an int or a list of ints (stdin/stdout-able)


def _ints(rng: random.Random, lo: int = -20, hi: int = 50, max_len: int = 8) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(0, max_len))]


_WORDS = (
    "apple",
    "kiwi",
    "banana",
    "fig",
    "cherry",
    "plum",
    "grape",
    "melon",
    "pear",
    "date",
    "Orange",
    "UMBRELLA",
)


def make_spec(rng: random.Random) -> Spec:
    kind = rng.randrange(8)
    if kind == 0:
        k = rng.randint(2, 7)
        return Spec(
            f"sum_multiples_of_{k}",
            "xs",
            f"the sum of the elements of the list xs that are divisible by {k}",
            f"def sum_multiples_of_{k}(xs):\n    total = 0\n    for x in xs:\n        if x % {k} == 0:\n"
            f"            total += x\n    return total\n",
            ((f"x % {k} == 0", f"x % {k} != 0"), ("total = 0", "total = 1"), ("total += x", "total += 1")),
            lambda r: (_ints(r),),
            True,
        )
    if kind == 1:
        k = rng.randint(2, 6)
        return Spec(
            f"count_longer_than_{k}",
            "words",
            f"how many strings in the list words are longer than {k} characters",
            f"def count_longer_than_{k}(words):\n    count = 0\n    for w in words:\n        if len(w) > {k}:\n"
            f"            count += 1\n    return count\n",
            (
                (f"len(w) > {k}", f"len(w) >= {k}"),
                ("count = 0", "count = 1"),
                (f"len(w) > {k}", f"len(w) < {k}"),
            ),
            lambda r: ([r.choice(_WORDS) for _ in range(r.randint(0, 7))],),
            False,
        )
    if kind == 2:
        return Spec(
            "running_max",
            "xs",
            "a list whose i-th element is the largest of xs[0..i]",
            "def running_max(xs):\n    out = []\n    best = None\n    for x in xs:\n"
            "        if best is None or x > best:\n            best = x\n        out.append(best)\n    return out\n",
            (("x > best", "x < best"), ("out.append(best)", "out.append(x)")),
            lambda r: (_ints(r, max_len=9),),
            True,
        )
    if kind == 3:
        k = rng.randint(1, 4)
        return Spec(
            f"rotate_left_{k}",
            "xs",
            f"the list xs rotated left by {k} positions (empty stays empty)",
            f"def rotate_left_{k}(xs):\n    if not xs:\n        return []\n    s = {k} % len(xs)\n"
            f"    return xs[s:] + xs[:s]\n",
            (("return xs[s:] + xs[:s]", "return xs[-s:] + xs[:-s]"), (f"s = {k} % len(xs)", f"s = {k}")),
            lambda r: (_ints(r, 0, 9, 7),),
            True,
        )
    if kind == 4:
        lo, hi = rng.randint(-5, 5), rng.randint(10, 30)
        name = f"clamp_{'m' if lo < 0 else ''}{abs(lo)}_{hi}"
        return Spec(
            name,
            "xs",
            f"xs with every element clamped into the range [{lo}, {hi}]",
            f"def {name}(xs):\n    return [min(max(x, {lo}), {hi}) for x in xs]\n",
            (
                (f"min(max(x, {lo}), {hi})", f"max(min(x, {lo}), {hi})"),
                (f"max(x, {lo})", f"max(x, {lo + 1})"),
            ),
            lambda r: (_ints(r, -30, 60),),
            True,
        )
    if kind == 5:
        ch = rng.choice("*#_")
        return Spec(
            "mask_vowels",
            "s",
            f"the string s with every vowel (a, e, i, o, u, either case) replaced by '{ch}'",
            f"def mask_vowels(s):\n    return ''.join('{ch}' if c in 'aeiouAEIOU' else c for c in s)\n",
            (("'aeiouAEIOU'", "'aeiou'"), (f"'{ch}' if c in", "c if c in")),
            lambda r: (" ".join(r.choice(_WORDS) for _ in range(r.randint(1, 3))),),
            False,
        )
    if kind == 6:
        k = rng.randint(2, 9)
        return Spec(
            f"digit_sum_times_{k}",
            "n",
            f"{k} times the sum of the decimal digits of the non-negative integer n",
            f"def digit_sum_times_{k}(n):\n    total = 0\n    while n > 0:\n        total += n % 10\n"
            f"        n //= 10\n    return {k} * total\n",
            (("while n > 0", "while n > 9"), ("total += n % 10", "total += n // 10")),
            lambda r: (r.randint(0, 10 ** r.randint(1, 6)),),
            False,
        )
    a, b = rng.choice(((2, 3), (3, 5), (2, 5), (3, 4), (4, 7)))
    return Spec(
        f"fizz_{a}_{b}",
        "n",
        f"a list for i = 1..n of 'FizzBuzz' if i is divisible by both {a} and {b}, 'Fizz' if by {a}, "
        f"'Buzz' if by {b}, else str(i)",
        f"def fizz_{a}_{b}(n):\n    out = []\n    for i in range(1, n + 1):\n"
        f"        if i % {a} == 0 and i % {b} == 0:\n            out.append('FizzBuzz')\n"
        f"        elif i % {a} == 0:\n            out.append('Fizz')\n        elif i % {b} == 0:\n"
        f"            out.append('Buzz')\n        else:\n            out.append(str(i))\n    return out\n",
        (
            ("range(1, n + 1)", "range(1, n)"),
            (f"i % {a} == 0 and i % {b} == 0", f"i % {a} == 0 or i % {b} == 0"),
        ),
        lambda r: (r.randint(0, 3 * a * b),),
        False,
    )


def run_reference(spec: Spec, source: str, args: tuple[Any, ...]) -> Any:
    """Execute our own generated source in-process (never model output) and call it."""
    env: dict[str, Any] = {}
    exec(compile(source, f"<{spec.name}>", "exec"), env)  # noqa: S102 - generated reference code
    return env[spec.name](*[list(a) if isinstance(a, list) else a for a in args])


def call_text(spec: Spec, args: tuple[Any, ...]) -> str:
    return f"{spec.name}({', '.join(repr(a) for a in args)})"


def test_cases(
    spec: Spec, rng: random.Random, n: int, source: str | None = None
) -> list[tuple[tuple[Any, ...], Any]]:
    """n distinct inputs with the reference's outputs (edge inputs first)."""
    edge: list[tuple[Any, ...]] = []
    if spec.args in ("xs", "words"):
        edge = [([],)]
    elif spec.args == "n":
        edge = [(0,)]
    seen, cases = set(), []
    for args in edge + [spec.inputs(rng) for _ in range(4 * n)]:
        key = repr(args)
        if key in seen:
            continue
        seen.add(key)
        cases.append((args, run_reference(spec, source or spec.source, args)))
        if len(cases) == n:
            break
    return cases


def hidden_and_example(
    spec: Spec, rng: random.Random, n: int
) -> tuple[list[tuple[tuple[Any, ...], Any]], tuple[tuple[Any, ...], Any]]:
    """n hidden cases and, drawn apart from them, the one example a prompt shows.

    The example is one more distinct input than the tests hold, so a prompt never gives away
    a hidden test's input and expected result (a solution that only echoes the example still
    fails every hidden test). Where the spec's inputs run out first, the last distinct case
    becomes the example and the hidden tests are one fewer.
    """
    cases = test_cases(spec, rng, n + 1)
    if len(cases) < 2:
        raise ValueError(f"spec {spec.name!r}: fewer than 2 distinct inputs, no example apart from the tests")
    return cases[:-1], cases[-1]


def wrong_outputs(out: Any) -> tuple[tuple[Any, str], ...]:
    """Plausible wrong results of a call, for error injection into execution facts: an element
    off by one, a dropped or an extra element, the wrong order, a changed letter. Integers
    need none (`data_gen.core.perturb` slips them itself)."""
    if isinstance(out, str):
        cands = [(out[:-1], "dropped_char")] if out else [("a", "spurious_char")]
        i = next((k for k, c in enumerate(out) if c.isalpha()), None)
        if i is not None:
            cands.append((out[:i] + out[i].swapcase() + out[i + 1 :], "wrong_char"))
        return tuple(cands)
    if isinstance(out, list):
        if not out:
            return (([0], "spurious_element"),)
        last = out[-1]
        changed = last + 1 if isinstance(last, int) else ("Fizz" if last != "Fizz" else str(len(out)))
        return (
            (out[:-1], "dropped_element"),
            (out[:-1] + [changed], "wrong_element"),
            (out[::-1], "wrong_order"),
            (out + [last], "extra_element"),
        )
    return ()


def tests_text(spec: Spec, cases: list[tuple[tuple[Any, ...], Any]]) -> str:
    return "".join(f"assert {call_text(spec, a)} == {out!r}\n" for a, out in cases)


def validate_tests(program: str, tests: str, entry_point: str, expect_pass: bool = True) -> bool:
    """Run `program` against `tests` in the project's sandbox (rewards.code.verify.run_tests)."""
    from rewards.code.verify import run_tests

    res = run_tests(program, tests, entry_point=entry_point, timeout_s=5.0)
    if res.status == "sandbox_error":
        raise RuntimeError(f"the code sandbox failed while validating a reference solution: {res.detail}")
    return res.passed if expect_pass else (not res.passed)


def validate_stdio(program: str, cases: list[dict[str, str]]) -> bool:
    from rewards.code.verify import run_stdio

    res = run_stdio(program, [(c["input"], c["output"]) for c in cases], timeout_s=5.0)
    if res.status == "sandbox_error":
        raise RuntimeError(f"the code sandbox failed while validating a reference solution: {res.detail}")
    return res.passed


def code_score(item: dict[str, Any], response: str) -> float:
    """1.0 when the program in the response passes the item's hidden tests (or stdin/stdout cases)."""
    from rewards.code.verify import extract_code

    meta = item["meta"]
    code = extract_code(response) if "<answer>" in response or "```" in response else response
    if not code:
        return 0.0
    if meta.get("cases"):
        return 1.0 if validate_stdio(code, meta["cases"]) else 0.0
    return 1.0 if validate_tests(code, meta["tests"], meta["entry_point"]) else 0.0
