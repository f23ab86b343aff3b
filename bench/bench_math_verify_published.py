"""Agreement with math-verify's own published test cases.

math-verify's source distribution on PyPI ships its `tests/`; their `pytest.mark.parametrize`
tables hold labelled `(gold, prediction, expected)` pairs written from real model outputs
(MATH, NuminaMath, OpenThoughts, ...). This script downloads that sdist (pip, PyPI only),
reads the tables with `ast` (nothing is imported or executed from it), keeps the rows whose
options are the defaults `verify` stands for (float rounding 6, strict, no set/relation
comparison), and counts how often `rewards.math.verify.verify(gold, pred)` gives the label.

Every disagreement is printed with the category of the README's table of deliberate
differences it falls in, or `MISS` when it falls in none. Nothing of the cases is committed:
the result holds counts only.

    .venv/bin/python bench/bench_math_verify_published.py [--tests DIR] [--version 0.9.0]
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import write_result  # noqa: E402  (bench/ is on sys.path when run as a script)

from rewards.math.verify import verify

DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}

# Deliberate differences (README, "Deliberate differences from math-verify"): a category
# is named by a test on the pair; the first that matches names the disagreement.
CATEGORIES: list[tuple[str, object]] = [
    ("chain is the interval", lambda g, p: bool(re.search(r"\\le|<", p)) and "\\in" in g),
    (
        "no decimal commas",
        lambda g, p: bool(re.search(r"(?<![\d,])(?:\d+,\d{1,2}|0,\d+)(?![\d,])", g + " " + p)),
    ),
    ("math span across lines", lambda g, p: bool(re.search(r"(?:\$|\\\()\s*\n", g + p))),
    ("answer tag is final", lambda g, p: "<answer>" in p),
    ("rounded decimal", lambda g, p: bool(re.search(r"\d\.\d{4,}", g + " " + p))),
    ("named values keep order", lambda g, p: bool(re.search(r"[a-z]\s*=.*,\s*[a-z]\s*=", g + p))),
]


def fetch_tests(version: str, cache: Path) -> Path:
    """Download math-verify's sdist (no dependencies, no install) and unpack its tests/."""
    out = cache / f"math_verify-{version}"
    if (out / "tests").is_dir():
        return out / "tests"
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
        + ["-d", str(cache), f"math-verify=={version}"],
        check=True,
    )
    sdist = next(cache.glob(f"math_verify-{version}.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name and m.name.endswith(".py")]
        tar.extractall(cache, members=members, filter="data")
    return out / "tests"


def harvest(tests: Path) -> tuple[list[tuple[str, str, int, str]], int]:
    """Labelled pairs from every parametrize table; returns (kept rows, rows left out)."""
    rows: list[tuple[str, str, int, str]] = []
    skipped = 0
    for f in sorted(tests.glob("test_*.py")):
        tree = ast.parse(f.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            fixed = _call_options(fn)
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                    continue
                try:
                    names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                    table = ast.literal_eval(dec.args[1])
                except (ValueError, SyntaxError):
                    continue  # a computed table (not a list of literals)
                if names[:2] != ["gold", "pred"] or not ({"expected", "result"} & set(names)):
                    continue
                label = "expected" if "expected" in names else "result"
                for values in table:
                    row = dict(zip(names, values, strict=True))
                    options = {**DEFAULTS, **fixed, **{k: row[k] for k in DEFAULTS if k in row}}
                    if options != DEFAULTS:
                        skipped += 1
                        continue
                    rows.append((row["gold"], row["pred"], int(row[label]), f"{f.name}::{fn.name}"))
    return rows, skipped


def _call_options(fn: ast.FunctionDef) -> dict:
    """Options a test passes to its comparison with constant values (e.g. precision=5)."""
    found = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in DEFAULTS and isinstance(kw.value, ast.Constant):
                    found[kw.arg] = kw.value.value
    return found


def category(gold: str, pred: str) -> str:
    for name, test in CATEGORIES:
        if test(gold, pred):
            return name
    return "MISS"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=Path, help="math-verify's tests/ directory (else downloaded)")
    ap.add_argument("--version", default=importlib.metadata.version("math-verify"))
    args = ap.parse_args()
    tests = args.tests or fetch_tests(args.version, Path(tempfile.gettempdir()) / "cotrl-math-verify")
    rows, skipped = harvest(tests)
    agree, by_cat, exceptions = 0, {}, 0
    t0 = time.perf_counter()
    for gold, pred, label, where in rows:
        try:
            got = int(verify(gold, pred).correct)
        except Exception as e:  # noqa: BLE001 (the target is 0 exceptions: count and show them)
            exceptions += 1
            print(f"EXCEPTION {where}: {gold!r} vs {pred!r}: {e!r}")
            continue
        if got == label:
            agree += 1
            continue
        cat = category(gold, pred)
        by_cat[cat] = by_cat.get(cat, 0) + 1
        print(
            f"{cat:26s} label={label} ours={got}  {where}\n    gold={gold[:120]!r}\n    pred={pred[:120]!r}"
        )
    n = len(rows)
    print(f"\n{agree}/{n} agree ({agree / n:.1%}); {skipped} rows with non-default options left out")
    print("disagreements by category:", by_cat)
    write_result(
        "math_verify_published",
        metric="share of math-verify's published test labels that verify() gives",
        unit="agreement",
        ours=round(agree / n, 4),
        peer=f"labels of math-verify {args.version}'s tests/ (sdist from PyPI, default-option rows)",
        peer_value=1.0,
        goal_ratio=0.97,
        higher_is_better=True,
        description=f"{n} labelled pairs; {skipped} rows with non-default options left out",
        extra={
            "cases": n,
            "agree": agree,
            "disagreements_by_category": by_cat,
            "undocumented_misses": by_cat.get("MISS", 0),
            "exceptions": exceptions,
            "wall_s": round(time.perf_counter() - t0, 2),
        },
    )


if __name__ == "__main__":
    main()
