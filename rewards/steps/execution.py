"""Execution facts in code traces: claims about what a program computes, checked by running it.

A code trace states facts such as ``Check: digit_sum_times_8(472) = 104``, ``Expected:
count_longer_than_4(['kiwi', 'fig']) = 0`` or ``input '3 4' prints '7'``. Arithmetic cannot
decide them; the program can. Two kinds are recognised:

- a *call*: ``name(literal args) OP literal`` with OP one of ``=``, ``==``, ``->``, ``→``,
  ``=>``, ``returns``, ``gives``, ``is``, ``should be``, ``should return``, ``evaluates to``;
  `name` is a function the program defines at top level (or a pure builtin such as ``len``);
  the arguments and the value are Python literals (never evaluated on the host: they are
  read with `ast.literal_eval` and written back with `repr`);
- a *stdin/stdout claim*: ``input '1 2 3' prints '6'``, ``Input: 3 4 -> Output: 7``,
  ``stdin `5` gives stdout `25```, checked only for a program that reads standard input.

The program is the one the trace is about: the last program in the trace (an ``<answer>``
or a fenced block; a HumanEval body gets the problem's prefix), else the item's reference
(`reference_program`). All call facts of one trace are the asserts of one `run_tests`
call and all stdin/stdout facts the cases of one `run_stdio` call, run side by side.

A fact is True, False (the program returns something else, or raises), or None when it
cannot be decided: no program, a sandbox error, a timeout, a program that dies or cannot
start, a result that is not plain data. None is unverifiable (masked), never "wrong".
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rewards.code.verify import SandboxLimits, extract_code, run_stdio, run_tests
from rewards.types import Problem

FACT_TIMEOUT_S = 2.0  # CPU seconds for all the call facts of one trace (one process)
STDIO_TIMEOUT_S = 1.0  # CPU seconds for each stdin/stdout fact (one process each)
MAX_PROGRAM_CHARS = 200_000  # longer programs are not parsed on the host (unverifiable)
MAX_FACTS = 64  # call facts per trace; facts past this are unverifiable
MAX_STDIO_FACTS = 8  # stdin/stdout facts per trace; past this unverifiable
MAX_FACT_CHARS = 2_000  # a call or value longer than this is not read
MAX_CANDIDATES = 32  # calls of the program's functions looked at per step
PURE_BUILTINS = frozenset(
    [
        "abs",
        "all",
        "any",
        "bin",
        "bool",
        "chr",
        "divmod",
        "float",
        "hex",
        "int",
        "len",
        "list",
        "max",
        "min",
        "oct",
        "ord",
        "pow",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
    ]
)

_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")
_OPERATOR = re.compile(
    r"\s*(?:==|=>|->|→|=(?!=)|\breturns\b|\bgives\b|\bshould\s+(?:be|return)\b|\bevaluates\s+to\b|\bis\b(?!\s+not\b))"
)
_SCALAR = re.compile(r"-?(?:\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)|(?:True|False|None)(?!\w)")
# after the value: an expression, a tuple, or a comparison goes on ("f(2) = 3 + 1", "f(1) = 2, 3",
# "f(3) is 2 more than f(2)"): not a claim of one literal
_CONTINUES = re.compile(
    r"\s*(?:[-+*/%@&|^<>]|,\s*[-\d'\"\[\(\{]|\.\d|(?i:or|more|less|times|greater|smaller|larger|bigger|fewer"
    r"|higher|lower|plus|minus|than|percent|off|over|under|above|below)\b)"
)
_CODE_MARK = re.compile(r"```|<answer>|</answer>")
_QUOTED = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|`[^`\n]*`"
_BARE = r"-?\d+(?:[ \t]+-?\d+)*(?![\w.])"
_STDIN = re.compile(rf"(?i)\b(?:stdin|input)\b\s*(?:is\s+|[:=]\s*)?(?P<v>{_QUOTED}|{_BARE})")
_STDOUT = re.compile(
    rf"(?i)(?:\b(?:stdout|output|outputs|prints?|gives|yields)\b|->|→|=>)\s*"
    rf"(?:(?:stdout|output)\b\s*)?(?:is\s+|[:=]\s*)?(?P<v>{_QUOTED}|{_BARE})"
)
_STDOUT_WINDOW = 80  # the output must be claimed within this many characters of the input
_PRELUDE = """
class CotrlRaised(Exception):
    pass


class CotrlUndecided(Exception):
    pass


def _cotrl_same(got, want, places):
    if type(got) in (list, tuple) and type(want) in (list, tuple):
        return len(got) == len(want) and all(_cotrl_same(g, w, places) for g, w in zip(got, want))
    if type(got) is dict and type(want) is dict:
        return got.keys() == want.keys() and all(_cotrl_same(got[k], want[k], places) for k in got)
    if type(want) is float and type(got) in (int, float):
        if places is not None and round(got, places) == want:
            return True
        return abs(got - want) <= 1e-9 * max(1.0, abs(got), abs(want))
    return bool(got == want)


def _cotrl_fact(thunk, want, places):
    try:
        got = thunk()
    except Exception as exc:
        text = str(exc)
        if type(exc).__name__ in ("RemoteDied", "MemoryError") or "too large to return" in text or (
            "nested too deeply" in text
        ):
            raise
        raise CotrlRaised(type(exc).__name__) from None
    try:
        same = _cotrl_same(got, want, places)
    except Exception:
        raise CotrlUndecided("the result is not plain data") from None
    return same

"""
# how an assert ended -> the fact's truth ("passed" and the two ways a program can be wrong)
_TRUTH = {"passed": True, "AssertionError": False, "CotrlRaised": False}


@dataclass(frozen=True)
class Fact:
    """One execution fact of one step, as written (`source`, at `start` in the step)."""

    step: int
    start: int
    end: int
    source: str
    function: str = ""  # call facts: the function's name
    call: str = ""  # call facts: the call re-written from its literals, e.g. "f([1, 2], k=3)"
    want: str = ""  # call facts: the claimed value, re-written from its literal
    places: int | None = None  # call facts: decimals of a claimed float (a rounded claim)
    stdin: str | None = None  # stdin/stdout facts
    stdout: str | None = None

    @property
    def is_stdio(self) -> bool:
        return self.stdin is not None


@dataclass(frozen=True)
class ProgramInfo:
    """What the host reads from a program without running it."""

    source: str
    functions: frozenset[str]  # top-level functions (def, or a name bound to a lambda)
    reads_stdin: bool


# ---------------------------------------------------------------------- which program


def program_info(text: str | None) -> ProgramInfo | None:
    """None unless `text` parses as Python and defines a function or does I/O (so the
    answer "12" of a code_output trace is not taken for a program)."""
    if not text or len(text) > MAX_PROGRAM_CHARS:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    functions = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            functions |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    reads = prints = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            reads |= node.func.id == "input"
            prints |= node.func.id == "print"
        elif isinstance(node, ast.Attribute) and node.attr == "stdin":
            reads = True
    if not functions and not reads and not prints:
        return None
    return ProgramInfo(text, frozenset(functions), reads)


def with_prefix(code: str | None, prefix: str = "", entry_point: str = "") -> str | None:
    """A HumanEval-style body gets the problem's `prefix` (its signature and helpers), as the
    `code_tests` reward does; a program that defines the entry point itself stands alone."""
    if not code:
        return None
    if prefix and entry_point and re.search(rf"^\s*def\s+{re.escape(entry_point)}\b", code, re.M):
        prefix = ""
    return prefix + code


def reference_program(problem: Problem) -> ProgramInfo | None:
    """The item's own program: `meta["program"]` (the program a code_output trace runs in its
    head), `meta["reference"]`, or the answer when it is a program (code_function, code_fix,
    code_stdio, a HumanEval canonical solution under its prefix)."""
    meta = problem.meta
    prefix, entry = str(meta.get("prefix") or ""), str(meta.get("entry_point") or "")
    for cand in (meta.get("program"), meta.get("reference"), problem.answer):
        info = program_info(with_prefix(cand, prefix, entry)) if isinstance(cand, str) else None
        if info is not None:
            return info
    return None


def trace_program(steps: Sequence[str], prefix: str = "", entry_point: str = "") -> ProgramInfo | None:
    """The last program written in the trace (in `<answer>` or a fenced block), if any."""
    text = "\n".join(steps)
    if "```" not in text and "<answer>" not in text:
        return None
    return program_info(with_prefix(extract_code(text), prefix, entry_point))


# ---------------------------------------------------------------------- reading facts


def prose(steps: Sequence[str]) -> list[str]:
    """Each step with its code blanked out (fenced blocks and `<answer>` contents, also when
    they span several steps): `if f(0) is None:` in a program is not a claim about it."""
    out, fence, answer = [], False, False
    for step in steps:
        chars, pos = list(step), 0
        for m in _CODE_MARK.finditer(step):
            if fence or answer:
                chars[pos : m.start()] = " " * (m.start() - pos)
            mark = m.group()
            if mark == "```":
                fence = not fence
            elif not fence:
                answer = mark == "<answer>"
            pos = m.end()
        if fence or answer:
            chars[pos:] = " " * (len(step) - pos)
        out.append("".join(chars))
    return out


def extract_facts(step: str, index: int, program: ProgramInfo | None) -> list[Fact]:
    """The execution facts written in one step that `program` can answer, by position: calls
    of its functions (or of pure builtins), and stdin/stdout claims when it reads stdin."""
    if program is None:
        return []
    facts = list(_call_facts(step, index, program.functions | PURE_BUILTINS))
    if program.reads_stdin:
        taken = [(f.start, f.end) for f in facts]
        facts += [
            f for f in _stdio_facts(step, index) if not any(f.start < e and s < f.end for s, e in taken)
        ]
    return sorted(facts, key=lambda f: f.start)


def _call_facts(step: str, index: int, names: frozenset[str]):
    pos = looked = 0
    for m in _CALL_START.finditer(step):
        if m.start() < pos or m.group(1) not in names:
            continue
        looked += 1
        if looked > MAX_CANDIDATES:
            return
        close = _close_bracket(step, m.end() - 1)
        if close is None:
            continue
        call = _literal_call(step[m.start() : close + 1])
        op = _OPERATOR.match(step, close + 1)
        if call is None or op is None:
            continue
        value = _literal_at(step, op.end())
        if value is None:
            continue
        want, places, end = value
        if _CONTINUES.match(step, end):  # "f(2) = 3 + 1", "f(1) = 2, 3": not one literal
            continue
        pos = end
        yield Fact(index, m.start(), end, step[m.start() : end], m.group(1), call, want, places)


def _literal_call(text: str) -> str | None:
    """`name(args)` with literal arguments, re-written from the values; None otherwise."""
    if len(text) > MAX_FACT_CHARS:
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    try:
        args = [repr(ast.literal_eval(a)) for a in node.args]
        kwargs = [f"{k.arg}={ast.literal_eval(k.value)!r}" for k in node.keywords if k.arg]
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    if len(kwargs) != len(node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    return f"{node.func.id}({', '.join(args + kwargs)})"


def _literal_at(text: str, i: int) -> tuple[str, int | None, int] | None:
    """The Python literal starting at `i` (after spaces): (its repr, decimals if a float, end)."""
    while i < len(text) and text[i] in " \t":
        i += 1
    if i >= len(text):
        return None
    c = text[i]
    if c in "[({":
        end = _close_bracket(text, i)
        end = None if end is None else end + 1
    elif c in "'\"":
        end = _close_quote(text, i)
    else:
        m = _SCALAR.match(text, i)
        end = m.end() if m else None
    if end is None:
        return None
    src = text[i:end]
    try:
        value = ast.literal_eval(src)
        want = repr(value)  # a >4300-digit int cannot be written back: ValueError
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    places = None
    if isinstance(value, float) and re.fullmatch(r"-?\d*\.\d+", src):
        places = len(src.split(".")[1])
    return want, places, end


def _close_quote(text: str, i: int) -> int | None:
    q, j, stop = text[i], i + 1, min(len(text), i + MAX_FACT_CHARS)
    while j < stop:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == q:
            return j + 1
        j += 1
    return None


def _close_bracket(text: str, i: int) -> int | None:
    """Index of the bracket closing the one at `i` (quotes respected), or None (also when it
    is further than MAX_FACT_CHARS: hostile text costs linear time)."""
    depth, j, stop = 0, i, min(len(text), i + MAX_FACT_CHARS)
    while j < stop:
        c = text[j]
        if c in "'\"":
            end = _close_quote(text, j)
            if end is None:
                return None
            j = end
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return None


def _stdio_facts(step: str, index: int):
    for m in _STDIN.finditer(step):
        out = _STDOUT.search(step, m.end(), min(len(step), m.end() + _STDOUT_WINDOW))
        if out is None:
            continue
        stdin, stdout = _unquote(m.group("v")), _unquote(out.group("v"))
        yield Fact(
            index, m.start(), out.end(), step[m.start() : out.end()], stdin=_line(stdin), stdout=stdout
        )


def _unquote(v: str) -> str:
    if v[:1] == "`":
        return v[1:-1]
    if v[:1] in "'\"":
        try:
            return str(ast.literal_eval(v))
        except (ValueError, SyntaxError):
            return v[1:-1]
    return v


def _line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


# ---------------------------------------------------------------------- running them


def check_facts(program: ProgramInfo | None, facts: Sequence[Fact]) -> list[bool | None]:
    """Truth of each fact against `program`: the call facts as the asserts of one `run_tests`
    call, the stdin/stdout facts as the cases of one `run_stdio` call, the two side by side."""
    out: list[bool | None] = [None] * len(facts)
    if program is None:
        return out
    calls = [i for i, f in enumerate(facts) if not f.is_stdio and _runnable(f, program)][:MAX_FACTS]
    stdio = [i for i, f in enumerate(facts) if f.is_stdio and program.reads_stdin][:MAX_STDIO_FACTS]
    tasks: list[Callable[[], list[bool | None]]] = []
    if calls:
        tasks.append(lambda: _run_calls(program, [facts[i] for i in calls]))
    if stdio:
        tasks.append(lambda: _run_stdio([facts[i] for i in stdio], program))
    if len(tasks) == 2:
        with ThreadPoolExecutor(2) as pool:  # both wait on their sandbox processes
            done = list(pool.map(lambda t: t(), tasks))
    else:
        done = [t() for t in tasks]
    for idx, truths in zip([x for x in (calls, stdio) if x], done):
        for i, truth in zip(idx, truths):
            out[i] = truth
    return out


def _run_calls(program: ProgramInfo, facts: Sequence[Fact]) -> list[bool | None]:
    tests = _tests(facts)
    res = run_tests(program.source, tests, limits=_limits(FACT_TIMEOUT_S))
    if res.status == "crashed" and not res.outcomes:  # fails at import, e.g. a top-level input()
        defs = _definitions_only(program.source)
        if defs is not None:
            res = run_tests(defs, tests, limits=_limits(FACT_TIMEOUT_S))
    if res.status == "sandbox_error":
        return []
    return [_TRUTH.get(o) for o in res.outcomes]


def _run_stdio(facts: Sequence[Fact], program: ProgramInfo) -> list[bool | None]:
    cases = [(str(f.stdin), str(f.stdout)) for f in facts]
    res = run_stdio(program.source, cases, limits=_limits(STDIO_TIMEOUT_S), stop_on_timeout=True)
    # a crash may be the sandbox's memory limit rather than the program's answer: undecided
    return [{"passed": True, "failed": False}.get(o) for o in res.outcomes]


def _limits(cpu_s: float) -> SandboxLimits:
    return SandboxLimits(cpu_s=cpu_s, wall_s=cpu_s + 2.0)


def _runnable(fact: Fact, program: ProgramInfo) -> bool:
    return fact.function in program.functions or fact.function in PURE_BUILTINS


def _tests(facts: Sequence[Fact]) -> str:
    lines = [_PRELUDE]
    lines += [f"assert _cotrl_fact(lambda: {f.call}, {f.want}, {f.places!r})" for f in facts]
    return "\n".join(lines) + "\n"


def _definitions_only(source: str) -> str | None:
    """The program's imports, functions, classes and constants without its top-level I/O, for a
    program whose main part cannot run without input; None when that leaves nothing new."""
    try:
        tree = ast.parse(source)
        keep = [n for n in tree.body if _is_definition(n)]
        if len(keep) == len(tree.body) or not keep:
            return None
        return ast.unparse(ast.Module(keep, []))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return node.value is not None and not any(isinstance(n, ast.Call) for n in ast.walk(node.value))
    return False
