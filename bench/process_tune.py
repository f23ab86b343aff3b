"""The RL settings `bench_process_vs_outcome.py` uses, chosen on the VALIDATION split only.

Two rounds of one-seed outcome-only GRPO runs from the warm start, each the bench's full step
budget (the cosine schedule is the one the arms get), each scored once at its end on the
validation items (training-split problems never trained on; `process_arms.run_tune` computes no
test-split number):
1. the learning rate;
2. at that rate: KL to the warm start, sampling temperature, group size (at the same samples per
   step), each moved alone; the candidate from round 1 stays in the running.
The winner has the highest validation accuracy, then the highest validation step accuracy (a
policy that keeps its steps right), then comes first in the list (the smaller change). The same
settings go to every RL arm: tuned on the outcome arm, so the baseline the process arms must
beat is the tuned one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from common import ROOT  # noqa: F401  (puts the repo on sys.path)

from rlhf.demo import pipeline as demo  # noqa: E402

SETTING_KEYS = ("grpo_lr", "grpo_temperature", "group_size", "prompts_per_step")  # DemoSettings fields
ALGO_KEYS = ("kl_coef",)  # recipe overrides under algo.
LRS = (1e-4, 5e-5, 3e-5, 1e-5)  # 1e-4: the previous run's; 5e-5: the demo's


def round1() -> list[dict[str, Any]]:
    return [{"grpo_lr": lr} for lr in LRS]


def round2(best: dict[str, Any]) -> list[dict[str, Any]]:
    """The round-1 winner and one change each (group 16 halves the prompts: same samples per step)."""
    return [
        best,
        best | {"kl_coef": 0.0},
        best | {"kl_coef": 0.1},
        best | {"grpo_temperature": 1.0},
        best | {"group_size": 16, "prompts_per_step": 2},
    ]


def name(cand: dict[str, Any]) -> str:
    """A stable file-name-safe label, e.g. grpo_lr=3e-05,kl_coef=0.1."""
    return ",".join(f"{k}={cand[k]:g}" for k in sorted(cand)) or "base"


def apply(base: demo.DemoSettings, cand: dict[str, Any]) -> tuple[demo.DemoSettings, tuple[str, ...]]:
    """The bench settings and extra recipe overrides a candidate stands for."""
    unknown = sorted(set(cand) - set(SETTING_KEYS) - set(ALGO_KEYS))
    if unknown:
        raise ValueError(
            f"tuning candidate {cand!r}: unknown key(s) {unknown}; known: {SETTING_KEYS + ALGO_KEYS}"
        )
    fields = {k: cand[k] for k in SETTING_KEYS if k in cand}
    extra = tuple(f"algo.{k}={cand[k]}" for k in ALGO_KEYS if k in cand)
    return dataclasses.replace(base, **fields), extra


def choose(results: list[dict[str, Any]]) -> int:
    """Index of the best run by validation accuracy, then validation step accuracy; ties go to the
    earlier one. Each result must carry its `val` point (accuracy, step_accuracy) and nothing from
    the test split."""
    if not results:
        raise ValueError("choose: no tuning results")
    for r in results:
        if "val" not in r or "curve" in r:
            raise ValueError(f"choose: {r.get('name')!r} is not a validation-only tuning result")
    keys = [(r["val"]["accuracy"], r["val"]["step_accuracy"]) for r in results]
    return max(range(len(results)), key=lambda i: (keys[i], -i))


def tune(run: Any, base: demo.DemoSettings, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Both rounds; `run(cands)` trains and scores a list of candidates (in parallel as it likes)
    and returns one tuning result each. Returns the chosen candidate and every result, in order."""
    first = run(round1())
    best = round1()[choose(first)]
    cands = round2(best)
    second = [first[choose(first)], *run(cands[1:])]
    chosen = cands[choose(second)]
    for r, c in zip(first + second[1:], round1() + cands[1:]):
        r["candidate"] = c
    for r in first + second[1:]:
        r["chosen"] = r["candidate"] == chosen
    return chosen, first + second[1:]
