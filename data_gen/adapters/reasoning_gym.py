"""reasoning-gym tasks as cotrl generators: `--task rg:basic_arithmetic`.

reasoning-gym is an optional extra (`pip install cotrl[bench]`). Items keep our schema and
seeding (the per-item seed hashed from (task, seed, index) seeds a one-item reasoning-gym
dataset), with the question as prompt and its answer; reasoning-gym provides no steps, so
`solution_steps` is empty and scoring uses reasoning-gym's own `score_answer`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from typing import Any

from data_gen.answers import extract_answer
from data_gen.core import NO_TAMPER, Solution, Tamper, TaskConfig

PREFIX = "rg:"


def available() -> list[str]:
    try:
        import reasoning_gym.factory as factory
    except ImportError:
        return []
    return sorted(factory.DATASETS)


class ReasoningGymTask:
    injectable = False

    def __init__(self, rg_name: str) -> None:
        self.rg_name = rg_name
        self.name = PREFIX + rg_name
        self.description = f"reasoning-gym task {rg_name} (answers only, no steps)"
        self.config_cls = dataclass(frozen=True)(type(f"RG_{rg_name}", (TaskConfig,), {"task": self.name}))

    def _dataset(self, seed: int) -> Any:
        import reasoning_gym

        return reasoning_gym.create_dataset(self.rg_name, size=1, seed=seed)

    def sample(self, rng: random.Random, cfg: TaskConfig) -> dict[str, Any]:
        seed = rng.getrandbits(31)
        return {"seed": seed, "entry": self._dataset(seed)[0]}

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution:
        e = params["entry"]
        meta = {
            "source": "reasoning_gym",
            "rg_task": self.rg_name,
            "rg_seed": params["seed"],
            "rg_metadata": json.loads(json.dumps(e.get("metadata", {}), default=str)),
            "step_check": "none",
        }
        return Solution(str(e["question"]), str(e["answer"]), [], meta)

    def score(self, item: dict[str, Any], response: str) -> float:
        seed = item["meta"]["rg_seed"]
        ds = self._dataset(seed)
        return float(ds.score_answer(extract_answer(response), ds[0]) or 0.0)


@cache
def get_task(name: str) -> ReasoningGymTask:
    """`rg:NAME` -> adapter; unknown names raise ValueError listing reasoning-gym's tasks."""
    rg_name = name[len(PREFIX) :]
    names = available()
    if not names:
        raise ValueError(f"task {name!r} needs reasoning-gym: pip install 'cotrl[bench]'")
    if rg_name not in names:
        raise ValueError(f"unknown reasoning-gym task {rg_name!r}; valid: {', '.join(names)}")
    return ReasoningGymTask(rg_name)
