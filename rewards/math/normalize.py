"""The cheap layer of math verification: string normalisation, exact number parsing and
pre-checks that refuse pathological input before sympy ever sees it.

Most RL answers are plain numbers; comparing them as exact `Fraction`s here costs
microseconds and needs no worker process. Only what is left goes to sympy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 2000
MAX_DEPTH = 40
MAX_TOWER = 2  # a^{b^{c}} is height 3: refused
MAX_EXPONENT_DIGITS = 5
MAX_FACTORIAL = 10000

_WRAPPERS = [
    (r"\boxed{", "}"),
    (r"\fbox{", "}"),
    ("{", "}"),
    ("$$", "$$"),
    ("\\[", "\\]"),
    ("\\(", "\\)"),
    ("$", "$"),
]
_DROP = re.compile(
    r"\\left|\\right|\\displaystyle|\\!|\\,|\\;|\\:|(?<!\\)\\ |~|\\quad|\\qquad|\^\{?\\circ\}?|\\circ|\^\{\\prime\}|\\\$"
)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|mbox)\{([^{}]*)\}")
_UNIT_WORD = r"[A-Za-z][A-Za-z./]*(?:\s*\^\s*\{?[23]\}?|[²³])?"
_UNIT_TAIL = re.compile(
    rf"^(?P<num>[-+]?[\d.,/]+(?:[eE][-+]?\d+)?%?)\s+(?P<unit>{_UNIT_WORD}(?:\s+{_UNIT_WORD}){{0,2}})$"
)
# units written against the number (1,000.99m², 5kg): only known ones, so 2x stays 2x
_UNIT_GLUED = re.compile(
    r"^(?P<num>[-+]?[\d.,]+)(?:mm|cm|km|m|kg|mg|g|ml|mL|L|s|ms|min|h|hrs?|ft|mph|kmh|km/h|m/s)(?:\^?[23]|[²³])?$"
)
_CURRENCY = re.compile(r"^[€£¥]\s*|\s*(?:[€£¥]|\$|\\\$|USD|EUR|dollars?|euros?)$")
_CONNECTIVE = re.compile(r"^(?:or|and)\b", re.I)
_LEADIN = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.I)

_INT = r"\d+|\d{1,3}(?:,\d{3})+"
_NUM_RE = re.compile(
    rf"^(?P<sign>[-+])?(?:(?P<int>{_INT})(?:\.(?P<frac>\d*))?|\.(?P<frac2>\d+))"
    r"(?:(?:[eE](?P<exp>[-+]?\d+))|(?:(?:\\times|\\cdot|\*|x)10\^\{?(?P<exp2>[-+]?\d+)\}?))?(?P<pct>%)?$"
)
_FRAC_RE = re.compile(
    r"^(?P<sign>[-+])?(?:\\frac\{(?P<a>-?\d+)\}\{(?P<b>-?\d+)\}|(?P<c>-?\d+)/(?P<d>-?\d+))(?P<pct>%)?$"
)


@dataclass(frozen=True)
class Num:
    """An exactly parsed number. `exact` is False for decimals and scientific notation
    (they may be rounded), `percent` when written with %."""

    value: Fraction
    exact: bool
    percent: bool
    decimals: int = 0  # digits written after the decimal point


def _unwrap(s: str) -> str:
    changed = True
    while changed:
        changed = False
        s = s.strip()
        for left, right in _WRAPPERS:
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                inner = s[len(left) : len(s) - len(right)]
                if left.endswith("{") and not _balanced(inner):
                    continue
                s, changed = inner, True
                break
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += c == "{"
        depth -= c == "}"
        if depth < 0:
            return False
    return depth == 0


def normalize(s: str) -> str:
    """A canonical spelling: wrappers, spacing commands, degree signs, \\text{} and leading
    'the answer is' removed; dfrac/tfrac -> frac; trailing period and spaces dropped."""
    s = _unwrap(s.strip())
    s = _LEADIN.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\%", "%").replace("−", "-").replace("{,}", ",")
    s = re.sub(r"(?<=\d),\\!\s*(?=\d{3})", ",", s)  # 11,\! 111: a thousands separator
    s = _DROP.sub("", s)
    s = _TEXT_CMD.sub(lambda m: " " + m.group(1) + " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(".").strip()
    s = _CURRENCY.sub("", s).strip()
    m = _UNIT_TAIL.match(s) or _UNIT_GLUED.match(s)
    if m and not _CONNECTIVE.match(m.groupdict().get("unit") or ""):
        s = m.group("num")
    return _unwrap(s)


def parse_number(s: str) -> Num | None:
    """Integers, decimals, thousands separators, a/b and \\frac{a}{b}, scientific notation
    (1.5e3, 1.5\\times10^{3}), percentages. None for anything else."""
    if re.search(r",\s", s):
        return None  # "32, 349" is two numbers, not a thousands separator
    t = s.replace(" ", "")
    m = _NUM_RE.match(t)
    if m:
        digits = (m.group("int") or "0").replace(",", "")
        frac = m.group("frac") or m.group("frac2") or ""
        exp_s = m.group("exp") or m.group("exp2")
        if len(digits) + len(frac) > 400 or (exp_s and len(exp_s.lstrip("+-")) > 4):
            return None
        value = Fraction(int(digits + frac), 10 ** len(frac))
        if exp_s:
            value *= Fraction(10) ** int(exp_s)
        if m.group("sign") == "-":
            value = -value
        exact = not frac and not exp_s
        pct = bool(m.group("pct"))
        return Num(value / 100 if pct else value, exact, pct, 0 if exp_s else len(frac))
    m = _FRAC_RE.match(t)
    if m:
        a, b = int(m.group("a") or m.group("c")), int(m.group("b") or m.group("d"))
        if b == 0:
            return None
        value = Fraction(a, b) * (-1 if m.group("sign") == "-" else 1)
        pct = bool(m.group("pct"))
        return Num(value / 100 if pct else value, True, pct)
    return None


ROUNDED_MIN_DECIMALS = 4


def numbers_equal(gold: Num, pred: Num, rel_tol: float, abs_tol: float = 0.0) -> bool:
    """Exact for exact numbers; decimals within `rel_tol`. A percentage matches both its
    value (50% = 0.5) and its bare number (50% = 50); `value` already holds 0.5. A decimal
    with at least `ROUNDED_MIN_DECIMALS` digits matches an exact gold it rounds (2.6667 for
    8/3); fewer digits are an approximation, not the answer (3.14 is not pi)."""
    golds = {gold.value} | ({gold.value * 100} if gold.percent else set())
    preds = {pred.value} | ({pred.value * 100} if pred.percent else set())
    for g in golds:
        for p in preds:
            if g == p or (abs_tol > 0 and abs(g - p) <= Fraction(abs_tol)):
                return True
            if gold.exact and rounds_to(g, p, pred.decimals):
                return True
            if not (gold.exact and pred.exact) and rel_tol > 0:
                scale = max(abs(g), abs(p))
                if abs(g - p) <= Fraction(rel_tol) * scale:
                    return True
    return False


def rounds_to(exact: Fraction, written: Fraction, decimals: int) -> bool:
    """Is `written` (a decimal with `decimals` digits) `exact` rounded to that many digits?"""
    if decimals < ROUNDED_MIN_DECIMALS:
        return False
    return abs(exact - written) <= Fraction(1, 2 * 10**decimals)


def precheck(s: str) -> str | None:
    """Why `s` is refused before sympy (None when it is acceptable): too long, nested too
    deeply, a power tower, a huge exponent or factorial."""
    if len(s) > MAX_CHARS:
        return f"answer longer than {MAX_CHARS} characters"
    if "\x00" in s:
        return "answer contains NUL bytes"
    depth = best = 0
    for c in s:
        if c in "{([":
            depth += 1
            best = max(best, depth)
        elif c in "})]":
            depth -= 1
    if best > MAX_DEPTH:
        return f"brackets nested {best} deep (limit {MAX_DEPTH})"
    if tower_height(s) > MAX_TOWER:
        return f"power tower of height {tower_height(s)} (limit {MAX_TOWER})"
    for m in re.finditer(r"(?:\^|\*\*)\s*\{?\s*[-+]?\(?\s*(\d+)", s):
        if len(m.group(1)) > MAX_EXPONENT_DIGITS:
            return f"exponent {m.group(1)[:12]}... is too large"
    for m in re.finditer(r"(\d+)\s*!", s):
        if int(m.group(1)[:8]) > MAX_FACTORIAL:
            return f"factorial of {m.group(1)[:12]} is too large"
    for _ in re.finditer(r"\d{400,}", s):
        return "a number with more than 400 digits"
    return None


def tower_height(s: str) -> int:
    """Height of the tallest chain of exponents: x is 1, x^2 is 2, x^{y^z} and x^y^z are 3."""
    best, i, n = 1, 0, len(s)
    while i < n:
        step = 2 if s.startswith("**", i) else 1 if s[i] == "^" else 0
        if not step:
            i += 1
            continue
        j = i + step
        while j < n and s[j] == " ":
            j += 1
        if j < n and s[j] in "{(":
            k = _matching(s, j)
            arg, i = s[j + 1 : k], k + 1
        else:
            k = j
            while k < n and (s[k].isalnum() or s[k] in ".\\"):
                k += 1
            while k < n and (s[k] == "^" or s.startswith("**", k)):  # unbraced chain a^b^c
                k += 2 if s[k] == "*" else 1
                if k < n and s[k] in "{(":
                    k = _matching(s, k) + 1
                while k < n and (s[k].isalnum() or s[k] in ".\\"):
                    k += 1
            arg, i = s[j:k], max(k, j + 1)
        best = max(best, 1 + tower_height(arg))
    return best


def _matching(s: str, j: int) -> int:
    depth = 0
    for k in range(j, len(s)):
        depth += s[k] in "{("
        depth -= s[k] in "})"
        if depth == 0:
            return k
    return len(s) - 1


def plain_text(s: str) -> str | None:
    """A text answer (yes, (A), Tuesday) as lowercase letters, or None when it looks like math."""
    t = s.strip().strip("()").strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z ,'-]*", t) and not re.fullmatch(r"[a-z]", t):
        return t.lower()
    if re.fullmatch(r"[A-E]", t):  # a multiple-choice letter
        return t.lower()
    return None


def looks_mathy(s: str) -> bool:
    return bool(re.search(r"[\d\\^=<>]|\b(?:pi|e|i|sqrt|inf|oo)\b", s))
