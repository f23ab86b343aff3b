"""Process-supervision data: corrupted solutions with a known first wrong step.

`corrupt_item` (data_gen.generate) re-solves an item with one step's result replaced;
later steps continue from the wrong value, so step `first_wrong` is the only step whose
claim is false relative to the step before it. Two export shapes:

- PRM stepwise rows (TRL's stepwise-supervision format): `prompt`, `completions` (the
  steps), `labels` (True up to the first wrong step, False from it on: a step on a wrong
  path is not a good step even when its own arithmetic is right).
- ProcessBench rows: `problem`, `steps`, `label` = index of the first wrong step, -1 if none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from data_gen.generate import corrupt_item, get_generator


def labelled_solutions(item: dict[str, Any], corruptions: int = 1) -> Iterator[dict[str, Any]]:
    """The gold solution (first_wrong -1), then up to `corruptions` distinct corrupted solutions
    when the family supports injection (draws that repeat an earlier one are skipped)."""
    gold = list(item["solution_steps"])
    yield {"steps": gold, "answer": item["answer"], "first_wrong": -1, "error_kind": None}
    seen = {tuple(gold)}
    for variant in range(corruptions):
        bad = corrupt_item(item, variant=variant)
        if bad is None:
            return
        if tuple(bad["steps"]) not in seen:
            seen.add(tuple(bad["steps"]))
            yield bad


def prm_rows(items: Iterable[dict[str, Any]], corruptions: int = 1) -> Iterator[dict[str, Any]]:
    """Items without steps (reasoning-gym adapter) have nothing to label and are skipped.
    `corruptions` > 1 gives more wrong variants of each problem (more contrast per problem)."""
    if corruptions < 1:
        raise ValueError(f"corruptions must be >= 1, got {corruptions}")
    for item in items:
        if not item["solution_steps"]:
            continue
        for k, sol in enumerate(labelled_solutions(item, corruptions)):
            fw = sol["first_wrong"]
            yield {
                "id": f"{item['id']}-{k}",
                "prompt": item["prompt"],
                "completions": sol["steps"],
                "labels": [fw < 0 or i < fw for i in range(len(sol["steps"]))],
            }


def processbench_rows(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if not item["solution_steps"]:
            continue
        for k, sol in enumerate(labelled_solutions(item)):
            yield {
                "id": f"{item['id']}-{k}",
                "generator": "cotrl.data_gen",
                "problem": item["prompt"],
                "steps": sol["steps"],
                "final_answer": sol["answer"],
                "final_answer_correct": get_generator(item["task"]).score(item, sol["answer"]) == 1.0,
                "label": sol["first_wrong"],
                "error_kind": sol["error_kind"],
            }
