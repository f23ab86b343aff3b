"""Free-form step text -> checkable claims (chains of expressions joined by ``=``).

Model output is prose with maths inside it ("So 7*3 = 21, and 12 + 21 = 33."), so claims
are found as maximal *math runs*: sequences of numbers, single-letter variables, known
functions, operators and ``=`` that words and punctuation break. Each run with an ``=`` is
a chain ``e0 = e1 = ... = ek``. Expressions are parsed by a small recursive-descent parser
into a tuple AST (never ``eval``: model output is untrusted), with limits on size and on
exponents so that ``9^9^9^9`` is refused instead of hanging the trainer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

FUNCS = frozenset({"sqrt", "abs", "ln", "log", "exp", "sin", "cos", "tan"})
MAX_TOKENS = 200  # longer runs are not parsed (unverifiable)
MAX_EXPONENT = 512  # |integer exponent| limit for exact evaluation

Node = tuple  # ("num", Fraction, decimals) | ("var", name) | ("neg", a) | (op, a, b) | ("fn", name, a)

_TOKEN = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<eq>==|=|≈|\\approx)"
    r"|(?P<op>\*\*|[-+*/^()])"
    r"|(?P<ws>[ \t]+)"
    r"|(?P<other>.)",
    re.S,
)
_REPLACE = (
    ("\u2212", "-"),
    ("\u2013", "-"),
    ("×", "*"),
    ("·", "*"),
    ("⋅", "*"),
    ("÷", "/"),
    ("\\times", "*"),
    ("\\cdot", "*"),
    ("\\div", "/"),
    ("\\left", ""),
    ("\\right", ""),
    ("$", ""),
    ("\\(", ""),
    ("\\)", ""),
    ("\\[", ""),
    ("\\]", ""),
    ("{", "("),
    ("}", ")"),
    ("\\sqrt", "sqrt"),
)
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_BULLET = re.compile(r"^\s*(?:[-*•]\s+|\d{1,3}[.)]\s+(?=\D))")
_BOLD = re.compile(r"\*\*([^*\n]*?)\*\*")
_ANSWER = re.compile(r"<answer>(.*?)</answer>|\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}", re.S)


@dataclass(frozen=True)
class Claim:
    """One chain `parts[0] = parts[1] = ...` as written (`source`) and parsed."""

    source: str
    parts: tuple[Node, ...]
    approx: bool = False  # written with ≈


def normalize(text: str) -> str:
    """Unicode/LaTeX operators to ASCII, thousands separators and percents resolved."""
    text = _BOLD.sub(lambda m: m.group(1) if re.search(r"[A-Za-z]", m.group(1)) else m.group(0), text)
    text = _FRAC.sub(r"((\1)/(\2))", text)
    for a, b in _REPLACE:
        text = text.replace(a, b)
    text = _THOUSANDS.sub("", text)
    text = _PERCENT.sub(r"(\1/100)", text)
    return _BULLET.sub("", text)


def answer_text(step: str) -> str | None:
    """The content of `<answer>..</answer>` or `\\boxed{..}`, if the step holds one."""
    m = _ANSWER.search(step)
    if not m:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip()


def strip_answer(step: str) -> str:
    return _ANSWER.sub(" ", step)


# ---------------------------------------------------------------------- tokens and runs


def _lex(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "ws":
            continue
        value = m.group()
        if kind == "name":
            if value in FUNCS:
                kind = "fn"
            elif not _is_var_name(value):
                kind = "word"
        if kind == "eq":
            value = "≈" if value in ("≈", "\\approx") else "="
        if value == "**":
            value = "^"
        out.append((kind, value))
    return out


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]+)\(")


def _opaque_calls(text: str) -> str:
    """`digit_sum(177403) = 154`: a call of an unknown function is one opaque word, so its
    argument is not read as the claim `177403 = 154`. Only a name glued to `(` is a call;
    "Then (3 + 4) * 2 = 14" keeps its bracket."""
    out, pos = [], 0
    for m in _CALL.finditer(text):
        if m.start() < pos or m.group(1) in FUNCS:
            continue
        depth, j = 0, m.end() - 1
        while j < len(text):
            depth += (text[j] == "(") - (text[j] == ")")
            if depth == 0:
                break
            j += 1
        out.append(text[pos : m.start()] + " call ")
        pos = j + 1
    out.append(text[pos:])
    return "".join(out)


def _is_var_name(name: str) -> bool:
    return len(name) == 1 or bool(re.fullmatch(r"[A-Za-z]_?\d+", name))


def _mathy(tokens: list[tuple[str, str]], i: int) -> bool:
    """Is token i part of a math run? Single letters must sit next to maths (not 'a' in prose)."""
    kind, value = tokens[i]
    if kind in ("num", "op", "eq", "fn"):
        return True
    if kind != "var":
        return False
    prev = tokens[i - 1] if i > 0 else ("other", "")
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ("other", "")
    return prev[0] in ("op", "eq", "num") or nxt[0] in ("op", "eq") or (nxt[0] == "num" and prev[0] != "word")


def math_runs(text: str) -> list[list[tuple[str, str]]]:
    """Maximal runs of math tokens in `text` (already normalised)."""
    tokens = _lex(_opaque_calls(text))
    kinds = ["var" if k == "name" else k for k, _ in tokens]
    tokens = [(k, v) for k, (_, v) in zip(kinds, tokens)]
    runs, cur = [], []
    for i in range(len(tokens)):
        if _mathy(tokens, i):
            cur.append(tokens[i])
        else:
            if cur:
                runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def _trim_run(run: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop dangling operators at the two ends of a run (a bullet '*', a trailing '-')."""
    while run and (run[0][1] in ("*", "/", "^", ")", "+") or run[0][0] == "eq"):
        run = run[1:]
    while run and run[-1][0] in ("op", "fn", "eq") and run[-1][1] != ")":
        run = run[:-1]
    return run


def _balance(piece: list[tuple[str, str]], first: bool, last: bool) -> list[tuple[str, str]]:
    """A prose bracket around a claim, '(7 * 3 = 21)', leaves '(' on the first part and ')' on the last."""
    depth = sum((v == "(") - (v == ")") for _, v in piece)
    while first and depth > 0 and piece and piece[0][1] == "(":
        piece, depth = piece[1:], depth - 1
    while last and depth < 0 and piece and piece[-1][1] == ")":
        piece, depth = piece[:-1], depth + 1
    return piece


def extract_claims(text: str) -> list[Claim]:
    """Every chain with an `=` in `text` whose parts all parse."""
    claims = []
    for run in math_runs(normalize(strip_answer(text))):
        run = _trim_run(run)
        if not any(k == "eq" for k, _ in run) or len(run) > MAX_TOKENS:
            continue
        pieces: list[list[tuple[str, str]]] = [[]]
        approx = False
        for tok in run:
            if tok[0] == "eq":
                approx |= tok[1] == "≈"
                pieces.append([])
            else:
                pieces[-1].append(tok)
        parts = []
        for i, piece in enumerate(pieces):
            piece = _balance(piece, i == 0, i == len(pieces) - 1)
            if not piece:
                continue
            node = parse_tokens(piece)
            if node is None:
                parts = []
                break
            parts.append(node)
        if len(parts) >= 2:
            claims.append(Claim(" = ".join(_src(p) for p in pieces if p), tuple(parts), approx))
    return claims


def _src(tokens: list[tuple[str, str]]) -> str:
    return " ".join(v for _, v in tokens)


# ---------------------------------------------------------------------- parser


def parse_expression(text: str) -> Node | None:
    """Parse one expression (e.g. an answer string); None if it is not one."""
    tokens = [t if t[0] != "name" else ("var", t[1]) for t in _lex(normalize(text))]
    if not tokens or any(k in ("word", "other", "eq") for k, _ in tokens) or len(tokens) > MAX_TOKENS:
        return None
    return parse_tokens(tokens)


def parse_tokens(tokens: list[tuple[str, str]]) -> Node | None:
    toks = _implicit_mult(tokens)
    parser = _Parser(toks)
    try:
        node = parser.expr()
    except _ParseError:
        return None
    return node if parser.i == len(toks) else None


def _implicit_mult(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for tok in tokens:
        if out:
            pk, pv = out[-1]
            left = pk in ("num", "var") or pv == ")"
            right = tok[0] in ("var", "fn") or tok[1] == "(" or (tok[0] == "num" and pk == "var")
            if left and right:
                out.append(("op", "*"))
        out.append(tok)
    return out


class _ParseError(Exception):
    pass


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def _peek(self) -> str | None:
        return self.t[self.i][1] if self.i < len(self.t) else None

    def _take(self) -> tuple[str, str]:
        if self.i >= len(self.t):
            raise _ParseError("unexpected end")
        self.i += 1
        return self.t[self.i - 1]

    def expr(self) -> Node:
        node = self.term()
        while self._peek() in ("+", "-"):
            op = self._take()[1]
            node = (op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self._peek() in ("*", "/"):
            op = self._take()[1]
            node = (op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self._peek() in ("-", "+"):
            op = self._take()[1]
            inner = self.unary()
            return ("neg", inner) if op == "-" else inner
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self._peek() == "^":
            self._take()
            return ("^", base, self.unary())
        return base

    def atom(self) -> Node:
        kind, value = self._take()
        if kind == "num":
            decimals = len(value.split(".")[1]) if "." in value else 0
            return ("num", Fraction(value), decimals)
        if kind == "var":
            return ("var", value)
        if kind == "fn":
            if self._take()[1] != "(":
                raise _ParseError("function without (")
            inner = self.expr()
            if self._take()[1] != ")":
                raise _ParseError("unclosed (")
            return ("fn", value, inner)
        if value == "(":
            inner = self.expr()
            if self._take()[1] != ")":
                raise _ParseError("unclosed (")
            return inner
        raise _ParseError(f"unexpected {value!r}")


def variables(node: Node) -> set[str]:
    if node[0] == "var":
        return {node[1]}
    if node[0] == "num":
        return set()
    return set().union(*(variables(c) for c in node[1:] if isinstance(c, tuple)))


def canonical(node: Node) -> str:
    """A printable canonical form (used to recognise a restated problem)."""
    kind = node[0]
    if kind == "num":
        return str(node[1])
    if kind == "var":
        return node[1]
    if kind == "neg":
        return f"(-{canonical(node[1])})"
    if kind == "fn":
        return f"{node[1]}({canonical(node[2])})"
    return f"({canonical(node[1])}{kind}{canonical(node[2])})"
