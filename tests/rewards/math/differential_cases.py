"""Gold/prediction pairs in the notations real datasets use, equal and unequal, drawn from a
seed: the case set of the differential test against math-verify (and of its benchmark row).

Each case is (category, gold, prediction, equal). Golds are written as datasets write them
(`$...$`); predictions as models write them (boxed, in a sentence, bare).
"""

from __future__ import annotations

import random
from fractions import Fraction

import sympy

X = sympy.Symbol("x")


def _say(rng: random.Random, ans: str) -> str:
    return rng.choice(
        [f"\\boxed{{{ans}}}", f"The answer is ${ans}$.", f"so we get $\\boxed{{{ans}}}$", f"${ans}$"]
    )


def _integers(rng, ok):
    n = rng.randint(-500, 5000)
    return f"${n}$", _say(rng, str(n if ok else n + rng.choice([-1, 1, 7])))


def _thousands(rng, ok):
    n = rng.randint(1000, 9_999_999)
    m = n if ok else n + 1
    return f"${n}$", rng.choice([f"\\boxed{{{m:,}}}", f"\\boxed{{{m:,}}}".replace(",", "{,}"), f"{m:,}"])


def _fractions(rng, ok):
    a, b = rng.randint(1, 30), rng.choice([2, 3, 4, 5, 7, 8, 9, 11])
    f = Fraction(a, b)
    g = f"$\\frac{{{f.numerator}}}{{{f.denominator}}}$" if f.denominator > 1 else f"${f.numerator}$"
    p = f if ok else f + Fraction(1, b)
    k = rng.randint(2, 4)
    forms = [f"\\frac{{{p.numerator * k}}}{{{p.denominator * k}}}", f"{p.numerator}/{p.denominator}"]
    if p.denominator in (1, 2, 4, 5, 8):
        forms.append(str(float(p)))
    return g, _say(rng, rng.choice(forms))


def _percent(rng, ok):
    n = rng.randint(1, 99)
    m = n if ok else n + 1
    return f"${n}\\%$", rng.choice([f"\\boxed{{{m}\\%}}", f"${m}\\%$", f"{m}%"])


def _polynomial(rng, ok):
    r1, r2 = rng.randint(-6, 6), rng.randint(-6, 6)
    expanded = sympy.expand((X - r1) * (X - r2))
    other = (X - r1) * (X - (r2 if ok else r2 + 1))
    return f"${sympy.latex(expanded)}$", _say(rng, sympy.latex(sympy.factor(other)))


def _radical(rng, ok):
    k = rng.randint(2, 9)
    inner = 2 * k * k if ok else 2 * k * k + 2
    return f"${k}\\sqrt{{2}}$", _say(rng, f"\\sqrt{{{inner}}}")


def _interval(rng, ok):
    a, b = rng.randint(-9, 0), rng.randint(1, 9)
    left, right = rng.choice("[("), rng.choice("])")
    p_right = right if ok else {"]": ")", ")": "]"}[right]
    return f"${left}{a}, {b}{right}$", _say(rng, f"{left}{a}, {b}{p_right}")


def _inequality(rng, ok):
    a = rng.randint(-9, 9)
    op, flipped = rng.choice([(">", "<"), ("\\ge", "\\le"), ("<", ">"), ("\\le", "\\ge")])
    return f"$x {op} {a}$", _say(rng, f"{a if ok else a + 1} {flipped} x")


def _set(rng, ok):
    vals = rng.sample(range(-20, 20), 3)
    pred = vals[:] if ok else vals[:2] + [vals[2] + 50]
    rng.shuffle(pred)
    return "$\\{" + ", ".join(map(str, vals)) + "\\}$", _say(rng, "\\{" + ", ".join(map(str, pred)) + "\\}")


def _tuple(rng, ok):
    a, b = rng.sample(range(-9, 10), 2)
    p = (a, b) if ok else (b, a)
    return f"$({a}, {b})$", _say(rng, rng.choice([f"({p[0]}, {p[1]})", f"\\left({p[0]}, {p[1]}\\right)"]))


def _matrix(rng, ok):
    m = [rng.randint(-5, 5) for _ in range(4)]
    q = m if ok else m[:3] + [m[3] + 1]
    env = rng.choice(["pmatrix", "bmatrix"])
    body = lambda v: f"{v[0]} & {v[1]} \\\\ {v[2]} & {v[3]}"  # noqa: E731
    return (
        f"$\\begin{{pmatrix}}{body(m)}\\end{{pmatrix}}$",
        _say(rng, f"\\begin{{{env}}}{body(q)}\\end{{{env}}}"),
    )


def _labelled(rng, ok):
    a, b = rng.sample(range(1, 20), 2)
    p = (a, b) if ok else (a, b + 1)
    label = rng.choice(["(p,q)", "(a, b)", "(m,n)"])
    return f"$({a}, {b})$", _say(rng, f"{label} = ({p[0]}, {p[1]})")


def _units(rng, ok):
    n = rng.randint(2, 500)
    unit = rng.choice(["\\text{ cm}", "\\text{ meters}", "\\mbox{ cm}^2", "\\text{ dollars}"])
    return f"${n}$", _say(rng, f"{n if ok else n + 1}{unit}")


def _degrees(rng, ok):
    n = rng.choice([30, 45, 60, 90, 120, 135, 150])
    return f"${n}^\\circ$", _say(rng, f"{n if ok else n + 15}^\\circ")


def _equation(rng, ok):
    m, c = rng.randint(1, 9), rng.randint(1, 9)
    return f"$y = {m}x + {c}$", _say(rng, f"y = {m}x + {c if ok else c + 1}")


def _solution_text(rng, ok):
    a, b = rng.randint(2, 30), rng.randint(2, 30)
    total = a * b if ok else a * b + 1
    gold = (
        f"Each of the ${a}$ rows has ${b}$ seats, so there are ${a} \\cdot {b} = \\boxed{{{a * b}}}$ seats."
    )
    pred = f"<think>\n{a} rows times {b} seats is {total}\n</think>\nThere are $\\boxed{{{total}}}$ seats."
    return gold, pred


def _ascii_relation(rng, ok):
    a = rng.randint(-9, 9)
    op, ascii_op = rng.choice([("\\ge", ">="), ("\\le", "<="), ("\\ne", "!=")])
    return f"$x {op} {a}$", f"x {ascii_op} {a if ok else a + 2}"


def _chain(rng, ok):
    a, b = rng.randint(-9, 0), rng.randint(1, 9)
    return f"$[{a}, {b}]$", _say(rng, f"{a} \\le x \\le {b if ok else b + 1}")


def _rounded(rng, ok):
    b = rng.choice([3, 7, 9, 11, 13])
    a = rng.randint(1, 4 * b)
    while Fraction(a, b).denominator == 1:
        a += 1
    shown = round(a / b, 4) if ok else round(a / b + 0.01, 4)
    return f"$\\frac{{{a}}}{{{b}}}$", _say(rng, f"{shown:.4f}")


def _factorial(rng, ok):
    n = rng.randint(30, 3000)
    return f"$\\frac{{1}}{{{n}!}}$", _say(rng, f"\\frac{{1}}{{{n if ok else n + 2}!}}")


def _hedge(rng, ok):
    n = rng.randint(2, 900)
    other = n + rng.randint(1, 50)
    return f"${n}$", rng.choice(
        [f"${n}$ or ${other}$", f"\\boxed{{{n} \\text{{ or }} {other}}}", f"{n} or {other}"]
    )


def _answer_tag(rng, ok):
    n = rng.randint(2, 900)
    return f"${n}$", f"<think>\n{n} it is\n</think>\nI conclude <answer>{n if ok else n + 1}</answer>"


GENERATORS = {
    "integer": _integers,
    "thousands": _thousands,
    "fraction": _fractions,
    "percent": _percent,
    "polynomial": _polynomial,
    "radical": _radical,
    "interval": _interval,
    "inequality": _inequality,
    "set": _set,
    "tuple": _tuple,
    "matrix": _matrix,
    "labelled": _labelled,
    "units": _units,
    "degrees": _degrees,
    "equation": _equation,
    "solution_text": _solution_text,
    "ascii_relation": _ascii_relation,
    "chain": _chain,
    "rounded": _rounded,
    "factorial": _factorial,
    "hedge": _hedge,
    "answer_tag": _answer_tag,
}


def draw_cases(n_per_category: int, seed: int) -> list[tuple[str, str, str, bool]]:
    rng = random.Random(seed)
    out = []
    for name, gen in GENERATORS.items():
        for i in range(n_per_category):
            ok = i % 2 == 0 and gen is not _hedge  # a hedge is never the answer
            gold, pred = gen(rng, ok)
            out.append((name, gold, pred, ok))
    return out
