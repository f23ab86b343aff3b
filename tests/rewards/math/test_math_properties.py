"""Property tests for the cheap layer of math verification and for robustness to any text."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.math.verify import STATUSES, verify

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_integers_in_any_common_spelling(a, b):
    assert verify(str(a), f"{a:,}").correct
    assert verify(str(a), f"{a}.0").correct
    assert verify(str(a), str(b)).correct == (a == b)


@FAST
@given(st.integers(-999, 999), st.sampled_from([1, 2, 4, 5, 8, 10, 16, 20, 25, 3, 7]))
def test_fractions_decimals_and_latex_fractions_agree(num, den):
    f = Fraction(num, den)
    gold = f"{f.numerator}/{f.denominator}"
    assert verify(gold, rf"\frac{{{num}}}{{{den}}}").correct
    if den in (1, 2, 4, 5, 8, 10, 16, 20, 25):
        assert verify(gold, repr(float(f))).correct
    assert not verify(gold, f"{f.numerator + 1}/{f.denominator}").correct


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_any_text_gets_a_verdict_and_never_a_false_pass(text):
    v = verify("7919", text, timeout_s=3.0)
    assert v.status in STATUSES
    if v.correct:  # random text is right only when it spells the number itself
        assert "7919" in text.replace(",", "").replace(" ", "")
