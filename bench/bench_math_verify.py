"""Math verification throughput and tail latency: ours (`rewards.math.verify`: extraction + verify)
against math-verify (`parse` + `verify`) on the same completions in the same run, plus
agreement with the cases' labels (the known false positives included).

Cases mimic an RL batch: mostly numeric answers (integers, fractions, decimals, formatted
numbers), then symbolic ones (polynomials, radicals, pi, sets, intervals, equations). The
two sides alternate in chunks so machine noise hits both alike; each case is seen once by
each side (no warm caches).

    .venv/bin/python bench/bench_math_verify.py
"""

from __future__ import annotations

import random
import sys
import time
from fractions import Fraction

from common import write_result  # noqa: E402  (bench/ is on sys.path when run as a script)

from rewards.math.pool import default_pool
from rewards.math.verify import extract_answer, verify, verify_batch

TRAPS = [
    (r"\frac{1}{2004!}", r"\frac{1}{2006!}", False),
    ("4", r"4\sqrt(2)", False),
    ("3x-y+13=0", "3x+4y+14=0", False),
    (r"4\sqrt{2}", "4", False),
]


def make_cases(n: int, seed: int) -> list[tuple[str, str, bool]]:
    rng = random.Random(seed)
    cases: list[tuple[str, str, bool]] = []
    while len(cases) < n:
        kind, ok = rng.random(), rng.random() < 0.5
        if kind < 0.35:  # integers, sometimes formatted
            v = rng.randint(-5000, 50000)
            pred = v if ok else v + rng.choice([-1, 1, 10])
            text = f"{pred:,}" if abs(pred) >= 1000 and rng.random() < 0.3 else str(pred)
            cases.append((str(v), text, ok))
        elif kind < 0.55:  # fractions written as \frac or a/b or a terminating decimal
            a, b = rng.randint(1, 40), rng.choice([2, 4, 5, 8, 3, 7])
            f = Fraction(a, b) if ok else Fraction(a + 1, b)
            pred = (
                rf"\frac{{{f.numerator}}}{{{f.denominator}}}"
                if rng.random() < 0.5
                else f"{f.numerator}/{f.denominator}"
            )
            if f.denominator in (2, 4, 5, 8) and rng.random() < 0.4:
                pred = str(float(f))
            g = Fraction(a, b)
            cases.append((f"{g.numerator}/{g.denominator}", pred, ok))
        elif kind < 0.70:  # decimals
            v = round(rng.uniform(-100, 100), 2)
            cases.append((f"{v:.2f}", f"{(v if ok else v + 0.01):.2f}", ok))
        elif kind < 0.80:  # polynomials: factored vs expanded
            r1, r2 = rng.randint(-9, 9), rng.randint(-9, 9)
            gold = f"x^2 + {-(r1 + r2)}x + {r1 * r2}".replace("+ -", "- ")
            s1, s2 = (r1, r2) if ok else (r1, r2 + 1)
            cases.append((gold, f"(x - {s1})(x - {s2})".replace("- -", "+ "), ok))
        elif kind < 0.87:  # radicals and pi
            k = rng.randint(2, 9)
            gold = rf"{k}\sqrt{{2}}"
            cases.append((gold, rf"\sqrt{{{2 * k * k if ok else 2 * k * k + 1}}}", ok))
        elif kind < 0.91:
            d = rng.randint(2, 12)
            cases.append((rf"\frac{{\pi}}{{{d}}}", rf"\pi/{d if ok else d + 1}", ok))
        elif kind < 0.95:  # sets and intervals
            a, b = rng.randint(0, 9), rng.randint(10, 19)
            if rng.random() < 0.5:
                cases.append((rf"\{{{a}, {b}\}}", rf"\{{{b}, {a if ok else a + 1}\}}", ok))
            else:
                cases.append((f"[{a}, {b})", f"[{a}, {b})" if ok else f"[{a}, {b}]", ok))
        else:  # equations of lines
            m, c = rng.randint(1, 9), rng.randint(1, 9)
            cases.append((f"y = {m}x + {c}", f"2y = {2 * m}x + {2 * c if ok else 2 * c + 1}", ok))
    return cases + TRAPS


def completion(pred: str) -> str:
    return f"<think>\nWork it out.\n</think>\n<answer>$\\boxed{{{pred}}}$</answer>"


def p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def differential(math_verify) -> dict:
    """Verdicts of ours and math-verify on the drawn pairs of the differential test (22
    notations, equal and unequal): agreement, and disagreements outside the README's
    documented deliberate differences (should be 0)."""
    from tests.rewards.math.differential_cases import draw_cases
    from tests.rewards.math.test_math_differential import DELIBERATE

    cases = draw_cases(10, seed=1)
    agree = agree_outside = outside = undocumented = 0
    for category, gold, pred, _ in cases:
        peer = bool(math_verify.verify(math_verify.parse(gold), math_verify.parse(pred)))
        same = verify(gold, pred).correct == peer
        documented = category in DELIBERATE
        agree += same
        outside += not documented
        agree_outside += same and not documented
        undocumented += not same and not documented
    return {
        "cases": len(cases),
        "agreement": round(agree / len(cases), 4),
        "agreement_outside_documented_categories": round(agree_outside / max(1, outside), 4),
        "undocumented_disagreements": undocumented,
    }


def main() -> int:
    import math_verify

    cases = make_cases(400, seed=0)
    warm = make_cases(20, seed=1)
    t0 = time.perf_counter()
    default_pool().run({"gold": "1", "pred": "x"}, 120)  # start the workers (not timed)
    startup = time.perf_counter() - t0
    ours_lat, peer_lat, ours_ok, peer_ok = [], [], 0, 0

    def run_ours(gold: str, text: str) -> bool:
        return verify(gold, extract_answer(text)).correct

    def run_peer(gold: str, text: str) -> bool:
        return bool(math_verify.verify(math_verify.parse(f"${gold}$"), math_verify.parse(text)))

    for g, p, _ in warm:
        run_ours(g, completion(p))
        run_peer(g, completion(p))
    chunk = 20
    for start in range(0, len(cases), chunk):
        part = cases[start : start + chunk]
        for fn, lat, side in ((run_ours, ours_lat, "ours"), (run_peer, peer_lat, "peer")):
            for g, p, label in part:
                t = time.perf_counter()
                got = fn(g, completion(p))
                lat.append(time.perf_counter() - t)
                if got == label:
                    if side == "ours":
                        ours_ok += 1
                    else:
                        peer_ok += 1
        print(f"\r{min(start + chunk, len(cases))}/{len(cases)} cases", end="", flush=True)
    print()
    t = time.perf_counter()
    batch = verify_batch([g for g, _, _ in cases], [extract_answer(completion(p)) for _, p, _ in cases])
    batch_t = time.perf_counter() - t
    n = len(cases)
    ours_rate, peer_rate = n / sum(ours_lat), n / sum(peer_lat)
    traps_ours = [verify(g, p).correct for g, p, _ in TRAPS]
    traps_peer = [
        bool(math_verify.verify(math_verify.parse(f"${g}$"), math_verify.parse(f"${p}$")))
        for g, p, _ in TRAPS
    ]
    agreement = differential(math_verify)
    print(f"differential: {agreement}")
    write_result(
        name="math_verify",
        metric="verifications per second (sequential)",
        unit="verif/s",
        ours=ours_rate,
        peer="math-verify 0.9",
        peer_value=peer_rate,
        goal_ratio=1.0,
        higher_is_better=True,
        description=f"{n} labelled completions (mostly numeric, some symbolic, 4 known false-positive traps)",
        rows=[
            {
                "verifier": "ours verify()",
                "verif/s": ours_rate,
                "p99_ms": 1000 * p99(ours_lat),
                "agrees_with_labels": f"{ours_ok}/{n}",
            },
            {
                "verifier": "math-verify",
                "verif/s": peer_rate,
                "p99_ms": 1000 * p99(peer_lat),
                "agrees_with_labels": f"{peer_ok}/{n}",
            },
            {
                "verifier": "ours verify_batch()",
                "verif/s": n / batch_t,
                "p99_ms": "-",
                "agrees_with_labels": f"{sum(v.correct == c[2] for v, c in zip(batch, cases))}/{n}",
            },
        ],
        extra={
            "p99_ms_ours": 1000 * p99(ours_lat),
            "p99_ms_peer": 1000 * p99(peer_lat),
            "p99_ratio": p99(peer_lat) / p99(ours_lat),
            "worker_startup_s": startup,
            "false_positive_traps_accepted": {"ours": sum(traps_ours), "peer": sum(traps_peer)},
            "differential_vs_math_verify": agreement,
            "notes": "same completions, each side sees every case once; ours decides numbers without sympy and "
            "runs sympy in killable worker processes",
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
