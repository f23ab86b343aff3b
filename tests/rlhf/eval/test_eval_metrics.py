import itertools
import math
import random

import pytest

from rlhf.eval.metrics import maj_at_k, majority_answer, pass_at_k


def brute_pass_at_k(n, c, k):
    items = [True] * c + [False] * (n - c)
    combos = list(itertools.combinations(range(n), k))
    return sum(any(items[i] for i in combo) for combo in combos) / len(combos)


@pytest.mark.parametrize(
    "n,c,k", [(5, 0, 1), (5, 1, 1), (5, 2, 3), (6, 3, 2), (4, 4, 4), (7, 1, 7), (8, 2, 5)]
)
def test_pass_at_k_matches_enumeration(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k))


def test_pass_at_1_is_fraction_correct():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 30)
        c = rng.randint(0, n)
        assert pass_at_k(n, c, 1) == pytest.approx(c / n)
    assert math.isclose(pass_at_k(10, 0, 10), 0.0)


def test_pass_at_k_bad_input():
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 4)


def test_majority_and_maj_at_k():
    assert majority_answer(["3", "4", "4", "3"]) == "3"  # tie -> first seen
    assert majority_answer([None, "", None]) is None
    answers = ["7", "5", "5", None]
    correct = [True, False, False, False]
    assert not maj_at_k(answers, correct, 3)  # majority "5" is wrong
    assert maj_at_k(answers, correct, 1)  # only "7"
    assert maj_at_k(["2", "2", "9"], [True, True, False], 3)
    with pytest.raises(ValueError, match="answers but"):
        maj_at_k(["1"], [True, False], 1)
