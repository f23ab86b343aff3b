"""The expensive layer of math verification: LaTeX/ASCII -> sympy (latex2sympy2_extended, the
parser math-verify uses) and our equivalence rules. Runs inside `rewards.math.worker`
processes, which the host kills on timeout; nothing here needs to watch the clock.

Equivalence, by shape:
- expressions: structural equality, else numeric comparison (constants, 30 digits, relative
  so 1/2004! != 1/2006!), else agreement at random points for every free symbol, else
  `simplify(a - b) == 0`;
- `x = 5` against `5`: the assignment's value is compared;
- equations: same variables and proportional `lhs - rhs` (so 2y = 4x + 2 matches y = 2x + 1
  but 3x - y + 13 = 0 does not match 3x + 4y + 14 = 0);
- inequalities: sides flipped as needed, same strictness, positively proportional; a
  one-variable inequality also matches the equivalent interval;
- sets order-insensitive (perfect matching), tuples and matrices in order, intervals by
  endpoints and openness.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.math_normalization import NormalizationConfig, normalize_latex
from sympy.core.relational import Relational

from rewards.math.normalize import ROUNDED_MIN_DECIMALS
from rewards.math.peer import kind, peer_verdict

_NORM = NormalizationConfig(
    basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="all", equations=False
)
_FUNCS = (
    "sqrt",
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "log",
    "ln",
    "exp",
    "pi",
    "infty",
    "theta",
    "alpha",
    "beta",
    "gamma",
)
_ASCII_FUNC = re.compile(r"(?<![\\a-zA-Z])(" + "|".join(_FUNCS) + r")(?![a-zA-Z])")


class ParseError(ValueError):
    pass


def to_latex(s: str) -> str:
    """ASCII math and common slips into LaTeX latex2sympy reads (sqrt(2) -> \\sqrt{2}, ** -> ^)."""
    s = s.replace("**", "^").replace(">=", r"\ge ").replace("<=", r"\le ").replace("!=", r"\ne ")
    s = re.sub(r"(?<![\\a-zA-Z])inf(?![a-zA-Z])", r"\\infty", s)
    s = re.sub(r"(?<![\\a-zA-Z])oo(?![a-zA-Z])", r"\\infty", s)
    s = _ASCII_FUNC.sub(r"\\\1", s)
    s = _brace_call(s, "\\sqrt")
    s = re.sub(r"(\d(?:\.\d*)?)[eE]([-+]?\d+)(?![a-zA-Z])", r"\1\\times10^{\2}", s)
    return s


def _brace_call(s: str, cmd: str) -> str:
    r"""\sqrt(2) -> \sqrt{2}: parentheses used as the argument of a one-argument command."""
    out, i = [], 0
    while True:
        j = s.find(cmd + "(", i)
        if j < 0:
            return "".join(out) + s[i:]
        k, depth = j + len(cmd), 0
        for k in range(j + len(cmd), len(s)):
            depth += s[k] == "("
            depth -= s[k] == ")"
            if depth == 0:
                break
        if depth:
            return "".join(out) + s[i:]
        out.append(s[i:j] + cmd + "{" + s[j + len(cmd) + 1 : k] + "}")
        i = k + 1


@lru_cache(maxsize=1024)
def parse(s: str) -> sympy.Basic:
    try:
        latex = normalize_latex(to_latex(s), _NORM)
        expr = latex2sympy(latex, normalization_config=None, is_real=True)
    except Exception as exc:  # noqa: BLE001 - the parser raises bare Exception on bad input
        raise ParseError(f"cannot parse {s[:80]!r}: {str(exc).splitlines()[0][:120]}") from None
    if expr is None or isinstance(expr, (str, list)):
        raise ParseError(f"cannot parse {s[:80]!r}")
    return expr


# ----------------------------------------------------------------------------- comparison


def as_comparable(g: sympy.Basic, p: sympy.Basic) -> tuple[sympy.Basic, sympy.Basic]:
    """The two answers in the forms our rules compare (membership and chains as sets,
    matrix expressions evaluated, assignments unwrapped against values)."""
    g, p = _membership_as_set(g), _membership_as_set(p)
    g, p = _chain_as_interval(g), _chain_as_interval(p)
    g, p = _evaluate_matrix(g), _evaluate_matrix(p)
    g, p = _unwrap_assignment(g, p), _unwrap_assignment(p, g)
    return _assignments_as_tuple(g, p), _assignments_as_tuple(p, g)


def equivalent(g: sympy.Basic, p: sympy.Basic, rel_tol: float = 1e-9, seed: int = 0) -> bool:
    g, p = as_comparable(g, p)
    if isinstance(g, sympy.MatrixBase) or isinstance(p, sympy.MatrixBase):
        return (
            isinstance(g, sympy.MatrixBase)
            and isinstance(p, sympy.MatrixBase)
            and g.shape == p.shape
            and all(equivalent(a, b, rel_tol, seed) for a, b in zip(g, p))
        )
    if isinstance(g, Relational) or isinstance(p, Relational):
        return _relations_equal(g, p, rel_tol, seed)
    if isinstance(g, sympy.Set) or isinstance(p, sympy.Set):
        return _sets_equal(g, p, rel_tol, seed)
    if isinstance(g, sympy.Tuple) or isinstance(p, sympy.Tuple):
        return (
            isinstance(g, sympy.Tuple)
            and isinstance(p, sympy.Tuple)
            and len(g) == len(p)
            and all(equivalent(a, b, rel_tol, seed) for a, b in zip(g, p))
        )
    if isinstance(g, sympy.logic.boolalg.Boolean) or isinstance(p, sympy.logic.boolalg.Boolean):
        return g == p
    return exprs_equal(g, p, rel_tol, seed)


def _membership_as_set(a: sympy.Basic) -> sympy.Basic:
    """`x \\in (-\\infty, 2)` (read as Eq(x, set)) is the set itself."""
    if isinstance(a, sympy.Eq) and isinstance(a.lhs, sympy.Symbol) and isinstance(a.rhs, sympy.Set):
        return a.rhs
    return a


_T = sympy.Symbol("t", real=True)


def _chain_as_interval(a: sympy.Basic) -> sympy.Basic:
    """`-2 \\le x \\le 7` or `0 < f(x) < 1` (one middle, constant ends) -> the interval of the middle."""
    if not isinstance(a, sympy.And) or len(a.args) != 2:
        return a
    bounds: dict[str, tuple[sympy.Basic, bool]] = {}
    middles = set()
    for r in a.args:
        if not isinstance(
            r, (sympy.StrictLessThan, sympy.LessThan, sympy.StrictGreaterThan, sympy.GreaterThan)
        ):
            return a
        small, big = (
            (r.lhs, r.rhs) if isinstance(r, (sympy.StrictLessThan, sympy.LessThan)) else (r.rhs, r.lhs)
        )
        strict = isinstance(r, (sympy.StrictLessThan, sympy.StrictGreaterThan))
        if _is_constant(small) and not _is_constant(big):
            bounds["lo"], middle = (small, strict), big
        elif _is_constant(big) and not _is_constant(small):
            bounds["hi"], middle = (big, strict), small
        else:
            return a
        middles.add(middle)
    if len(bounds) != 2 or len(middles) != 1:
        return a
    (lo, lo_open), (hi, hi_open) = bounds["lo"], bounds["hi"]
    (middle,) = middles
    try:
        interval = sympy.Interval(lo, hi, lo_open, hi_open)
        if isinstance(middle, sympy.Abs) and isinstance(middle.args[0], sympy.Symbol):
            # `1 \le |z| \le 2`: the values of z, [-2, -1] U [1, 2]
            positive = interval.intersect(sympy.Interval(0, sympy.oo))
            mirrored = sympy.imageset(sympy.Lambda(_T, -_T), positive)
            return sympy.Union(mirrored, positive)
        return interval
    except (TypeError, ValueError):
        return a


def _evaluate_matrix(a: sympy.Basic) -> sympy.Basic:
    """`2 \\begin{pmatrix}..` (a matrix expression) -> its matrix."""
    if isinstance(a, sympy.MatrixExpr) and not isinstance(a, sympy.MatrixBase):
        try:
            done = a.doit()
        except (TypeError, ValueError, AttributeError, sympy.ShapeError):
            return a
        return sympy.ImmutableMatrix(done) if isinstance(done, sympy.MatrixBase) else done
    return a


def _unwrap_assignment(a: sympy.Basic, other: sympy.Basic) -> sympy.Basic:
    """`x = 5` compared with a non-equation: use 5 (also `x \\in \\{1, 2\\}` -> {1, 2})."""
    if isinstance(a, sympy.Eq) and not isinstance(other, Relational):
        lhs, rhs = a.lhs, a.rhs
        if isinstance(lhs, sympy.Symbol) and lhs not in getattr(rhs, "free_symbols", set()):
            return rhs
        if isinstance(rhs, sympy.Symbol) and rhs not in getattr(lhs, "free_symbols", set()):
            return lhs
    return a


def _assignments_as_tuple(a: sympy.Basic, other: sympy.Basic) -> sympy.Basic:
    """`x = 2, y = 3` compared with a point `(2, 3)`: the values in variable-name order."""
    if not isinstance(a, sympy.FiniteSet) or not isinstance(other, (sympy.Tuple, sympy.Interval)):
        return a
    pairs = [(e.lhs, e.rhs) for e in a if isinstance(e, sympy.Eq) and isinstance(e.lhs, sympy.Symbol)]
    if len(pairs) != len(a) or len({str(k) for k, _ in pairs}) != len(pairs):
        return a
    values = [v for _, v in sorted(pairs, key=lambda kv: str(kv[0]))]
    if isinstance(other, sympy.Interval) and len(values) == 2 and other.left_open and other.right_open:
        return sympy.Interval.open(*values) if values[0] != values[1] else a
    return sympy.Tuple(*values)


def exprs_equal(a: sympy.Basic, b: sympy.Basic, rel_tol: float, seed: int) -> bool:
    if a == b:
        return True
    if not isinstance(a, sympy.Expr) or not isinstance(b, sympy.Expr):
        return False
    tol = rel_tol if (a.has(sympy.Float) or b.has(sympy.Float)) else 1e-12
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    if not syms:
        return _close(_num(a), _num(b), tol) or _rounded(a, b) or _rounded(b, a)
    rng = random.Random(seed)
    valid = 0
    for _ in range(8):
        point = {s: sympy.Rational(rng.randint(11, 290), 97) for s in syms}
        va, vb = _num(a.subs(point)), _num(b.subs(point))
        if va is None or vb is None:
            continue
        if not _close(va, vb, max(tol, 1e-9)):
            return False
        valid += 1
        if valid >= 5:
            return True
    return sympy.simplify(a - b) == 0


def _rounded(written: sympy.Basic, exact: sympy.Basic) -> bool:
    """A decimal written with enough digits (2.6667) is the exact value (8/3) rounded."""
    if not isinstance(written, sympy.Float) or exact.has(sympy.Float):
        return False
    digits = str(written).rstrip("0").partition(".")[2]
    if len(digits) < ROUNDED_MIN_DECIMALS:
        return False
    v = _num(exact)
    if v is None or v in (sympy.oo, -sympy.oo) or not v.is_real:
        return False
    return bool(abs(sympy.N(written - v, 30)) <= sympy.Rational(1, 2 * 10 ** len(digits)))


def _num(e: sympy.Basic) -> complex | None:
    try:
        v = sympy.N(e, 30)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        return None
    if not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return v if v in (sympy.oo, -sympy.oo) else None
    return v


def _close(x, y, tol: float) -> bool:
    if x is None or y is None:
        return False
    if x in (sympy.oo, -sympy.oo) or y in (sympy.oo, -sympy.oo):
        return x == y
    diff = abs(sympy.N(x - y, 30))
    scale = max(abs(x), abs(y))
    if scale == 0:
        return True
    return bool(diff <= tol * scale)


def _relations_equal(g: sympy.Basic, p: sympy.Basic, rel_tol: float, seed: int) -> bool:
    if isinstance(g, Relational) != isinstance(p, Relational):
        rel, other = (g, p) if isinstance(g, Relational) else (p, g)
        if isinstance(other, sympy.Set):
            as_set = _relation_as_set(rel)
            return as_set is not None and _sets_equal(as_set, other, rel_tol, seed)
        return False
    if isinstance(g, sympy.Eq) != isinstance(p, sympy.Eq) or isinstance(g, sympy.Ne) != isinstance(
        p, sympy.Ne
    ):
        return False
    dg, sg = _canonical(g)
    dp, sp = _canonical(p)
    if sg != sp or dg.free_symbols != dp.free_symbols:
        return False
    sign_free = isinstance(g, (sympy.Eq, sympy.Ne))
    if _proportional(dg, dp, positive=not sign_free, seed=seed):
        return True
    sg_set, sp_set = _relation_as_set(g), _relation_as_set(p)
    return sg_set is not None and sp_set is not None and _sets_equal(sg_set, sp_set, rel_tol, seed)


def _canonical(r: Relational) -> tuple[sympy.Expr, str]:
    """lhs - rhs with the relation turned to > or >= (or = / !=)."""
    if isinstance(r, (sympy.StrictLessThan, sympy.LessThan)):
        return r.rhs - r.lhs, ">" if isinstance(r, sympy.StrictLessThan) else ">="
    if isinstance(r, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        return r.lhs - r.rhs, ">" if isinstance(r, sympy.StrictGreaterThan) else ">="
    return r.lhs - r.rhs, type(r).__name__


def _proportional(a: sympy.Expr, b: sympy.Expr, positive: bool, seed: int) -> bool:
    """a = c * b for one nonzero constant c (c > 0 when `positive`), checked at random points."""
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    rng = random.Random(seed + 1)
    ratios = []
    for _ in range(8):
        point = {s: sympy.Rational(rng.randint(11, 290), 97) for s in syms}
        va, vb = _num(a.subs(point)), _num(b.subs(point))
        if va is None or vb is None or va in (sympy.oo, -sympy.oo) or vb in (sympy.oo, -sympy.oo):
            continue
        if abs(vb) < 1e-20:
            if abs(va) > 1e-20:
                return False
            continue
        ratios.append(sympy.N(va / vb, 30))
        if len(ratios) >= 5:
            break
    if len(ratios) < 3:
        ratio = sympy.simplify(a / b)
        return bool(ratio.is_number and ratio != 0 and (not positive or ratio.is_positive))
    c = ratios[0]
    if abs(c) < 1e-20 or (positive and not (c.is_real and c > 0)):
        return False
    return all(_close(r, c, 1e-9) for r in ratios[1:])


def _relation_as_set(r: Relational) -> sympy.Set | None:
    if isinstance(r, sympy.Eq) and isinstance(r.rhs, sympy.Set):
        return r.rhs
    if len(r.free_symbols) != 1:
        return None
    try:
        return r.as_set()
    except (NotImplementedError, TypeError, ValueError):
        return None


def _sets_equal(g: sympy.Basic, p: sympy.Basic, rel_tol: float, seed: int) -> bool:
    if isinstance(g, sympy.Eq) or isinstance(p, sympy.Eq):
        return False
    if isinstance(g, sympy.FiniteSet) and isinstance(p, sympy.FiniteSet):
        if _named_values(g) != _named_values(p):
            return False  # x = 10, y = -8 against a bare {10, -8}: which value is which is unknown
        return _matching(list(g), list(p), rel_tol, seed)
    if isinstance(g, sympy.Interval) and isinstance(p, sympy.Interval):
        return (
            g.left_open == p.left_open
            and g.right_open == p.right_open
            and equivalent(g.start, p.start, rel_tol, seed)
            and equivalent(g.end, p.end, rel_tol, seed)
        )
    if isinstance(g, sympy.Union) and isinstance(p, sympy.Union):
        return _matching(list(g.args), list(p.args), rel_tol, seed)
    if isinstance(g, sympy.Set) and isinstance(p, sympy.Set):
        return g == p
    return False


def _named_values(s: sympy.FiniteSet) -> bool:
    """True when the set assigns values to two or more different variables (a point, not a set)."""
    names = {e.lhs for e in s if isinstance(e, sympy.Eq) and isinstance(e.lhs, sympy.Symbol)}
    return len(names) >= 2


def _matching(xs: list, ys: list, rel_tol: float, seed: int) -> bool:
    """A perfect matching between two small collections under `equivalent`."""
    if len(xs) != len(ys):
        return False
    used = [False] * len(ys)
    for x in xs:
        for j, y in enumerate(ys):
            if not used[j] and equivalent(x, y, rel_tol, seed):
                used[j] = True
                break
        else:
            return False
    return True


def _assigns_names(e: sympy.Basic) -> bool:
    """`x = 2, y = 3`: our rules know which value is which; math-verify reads it as a bare set."""
    return isinstance(e, sympy.FiniteSet) and _named_values(e)


def _is_constant(e: sympy.Basic) -> bool:
    return isinstance(e, sympy.Expr) and not e.free_symbols


def check(
    gold: str, pred: str, rel_tol: float = 1e-9, question_spans: tuple[str, ...] = (), abs_tol: float = 0.0
) -> dict:
    """The worker's entry point: a verdict dict (status, correct, detail).

    Our rules decide when they read both sides as the same kind of object; otherwise
    math-verify is asked (`rewards.math.peer`)."""
    g = p = None
    g_err = p_err = ""
    try:
        g = parse(gold)
    except ParseError as exc:
        g_err = f"gold: {exc}"
    try:
        p = parse(pred)
    except ParseError as exc:
        p_err = str(exc)
    if g is not None and p is not None:
        for span in question_spans:
            try:
                q = parse(span)
            except ParseError:
                continue
            if q == p and g != p:
                return {
                    "status": "incorrect",
                    "correct": False,
                    "detail": "the answer restates the question's expression",
                }
        if abs_tol > 0 and _is_constant(g) and _is_constant(p):
            vg, vp = _num(g), _num(p)
            if vg is not None and vp is not None and abs(sympy.N(vg - vp, 30)) <= abs_tol:
                return {"status": "correct", "correct": True, "detail": f"within abs_tol {abs_tol:g}"}
        ok = equivalent(g, p, rel_tol, seed=len(gold) * 7919 + len(pred))
        cg, cp = as_comparable(g, p)
        if ok or kind(cg) == kind(cp) != "other" or _assigns_names(cg) or _assigns_names(cp):
            return {"status": "correct" if ok else "incorrect", "correct": bool(ok), "detail": "symbolic"}
    kinds = (None if g is None else kind(g), None if p is None else kind(p))
    peer = peer_verdict(gold, pred, kinds)
    if peer.correct:
        return {"status": "correct", "correct": True, "detail": "math-verify"}
    if g is None and not peer.gold_read:
        return {"status": "error", "correct": False, "detail": g_err}
    if p is None and not peer.pred_read:
        return {"status": "unparsable", "correct": False, "detail": p_err}
    return {"status": "incorrect", "correct": False, "detail": "symbolic and math-verify"}
