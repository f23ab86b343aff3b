"""Items from generators: hashed per-item seeds, disjoint splits, dedup by normalized prompt.

Stream position `index` of task T under seed S always yields the same candidate
(`build_item(T, S, index, cfg)`); a candidate belongs to the held-out split iff its
normalized prompt hashes into the reserved share (`core.split_of`), so a training set
and an evaluation set never share a problem, whatever seeds or sizes they use.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from data_gen.core import (
    NO_TAMPER,
    SPLITS,
    Generator,
    Solution,
    Tamper,
    TaskConfig,
    item_seed,
    prompt_hash,
    split_of,
)
from data_gen.registry import GENERATORS

MAX_ATTEMPTS_FACTOR = 50  # candidates drawn per requested item before giving up (small problem spaces)


def get_generator(task: str) -> Generator:
    """A registered task, `package.module:ATTR`, or `rg:NAME` (a reasoning-gym task)."""
    if isinstance(task, str) and task.startswith("rg:"):
        from data_gen.adapters.reasoning_gym import get_task

        return get_task(task)  # type: ignore[return-value]
    return GENERATORS.get(task)  # type: ignore[return-value]


def make_config(task: str, level: float | None = None, overrides: dict[str, Any] | None = None) -> TaskConfig:
    """The task's config at `level` (None: level-0 defaults) with knob overrides, validated."""
    return get_generator(task).config_cls.from_level(level, overrides)


def build_item(
    task: str,
    seed: int,
    index: int,
    cfg: TaskConfig,
    gen: Generator | None = None,
    rng: random.Random | None = None,
    validate: bool = True,
) -> dict[str, Any]:
    """Rebuild candidate `index` of (task, seed): a JSONL row (see rewards.types.Problem).

    A candidate the family's `validate` rejects (a code reference failing its tests in the
    sandbox) gets `meta["split"] = "rejected"`, so no split filter ever emits it.
    """
    gen = gen or get_generator(task)
    s = item_seed(task, seed, index)
    rng = rng or random.Random()
    rng.seed(s)
    sol = gen.solve(gen.sample(rng, cfg), NO_TAMPER)
    check = getattr(gen, "validate", None)
    rejected = validate and check is not None and not check(sol)
    ph = prompt_hash(sol.prompt)
    difficulty = cfg.as_dict()
    level = getattr(cfg, "_level", None)
    if level is not None:
        difficulty["level"] = level
    return {
        "id": f"{task}-{seed}-{index}-{ph[:8]}",
        "task": task,
        "prompt": sol.prompt,
        "messages": [{"role": "user", "content": sol.prompt}],
        "answer": sol.answer,
        "solution_steps": sol.steps,
        "difficulty": difficulty,
        "meta": {
            **sol.meta,
            "seed": seed,
            "index": index,
            "split": "rejected" if rejected else split_of(ph),
            "prompt_hash": ph,
        },
    }


def config_of(item: dict[str, Any]) -> TaskConfig:
    """The config an item was built with, from its recorded knob values."""
    cls = get_generator(item["task"]).config_cls
    return cls(**{k: v for k, v in item["difficulty"].items() if k in cls.knobs()})


def corrupt_item(item: dict[str, Any], target: int | None = None, variant: int = 0) -> dict[str, Any] | None:
    """The item's solution with one injected error at step `target` (random when None).

    `variant` picks another deterministic draw of the target step and the wrong value
    (0 is the item's canonical corruption; others may coincide with it).

    Returns `{"steps", "answer", "first_wrong", "error_kind"}` or None when the family
    does not support injection or the item has no steps.
    """
    gen = get_generator(item["task"])
    meta = item["meta"]
    n_steps = len(item["solution_steps"])
    if not getattr(gen, "injectable", False) or n_steps == 0:
        return None
    s = item_seed(item["task"], meta["seed"], meta["index"])
    trng = random.Random(s ^ 0x5EED_E77 if variant == 0 else f"{s}-corrupt-{variant}")
    if target is None:
        target = trng.randrange(n_steps)
    if not 0 <= target < n_steps:
        raise ValueError(f"target step {target} out of range for {n_steps} steps")
    tamper = Tamper(target, trng)
    sol = gen.solve(gen.sample(random.Random(s), config_of(item)), tamper)
    assert tamper.applied is not None, f"{item['task']}: solver never offered step {target} to the tamper"
    return {"steps": sol.steps, "answer": sol.answer, "first_wrong": target, "error_kind": tamper.applied}


def _solution_of(item: dict[str, Any]) -> Solution:
    return Solution(item["prompt"], item["answer"], list(item["solution_steps"]), item["meta"])


def iter_items(
    tasks: Sequence[str],
    n: int,
    seed: int = 0,
    configs: dict[str, TaskConfig] | None = None,
    split: str = "train",
    dedup: bool = True,
) -> Iterator[dict[str, Any]]:
    """`n` items round-robin over `tasks`, from `split`, unique by normalized prompt."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not tasks:
        raise ValueError("at least one task is required")
    gens = {t: get_generator(t) for t in tasks}
    configs = {t: (configs or {}).get(t) or make_config(t) for t in tasks}
    seen: set[str] = set()
    next_index = dict.fromkeys(tasks, 0)
    rng = random.Random()
    produced = 0
    attempts = 0
    budget = MAX_ATTEMPTS_FACTOR * n + 1000
    while produced < n:
        task = tasks[produced % len(tasks)]
        while True:
            attempts += 1
            if attempts > budget:
                raise ValueError(
                    f"only {produced} unique {split} items after {budget} candidates for {', '.join(tasks)}; "
                    "raise the difficulty or lower n"
                )
            index = next_index[task]
            next_index[task] += 1
            item = build_item(task, seed, index, configs[task], gens[task], rng, validate=False)
            meta = item["meta"]
            if meta["split"] != split or (dedup and meta["prompt_hash"] in seen):
                continue
            check = getattr(gens[task], "validate", None)  # expensive (sandbox): only for survivors
            if check is not None and not check(_solution_of(item)):
                continue
            if dedup:
                seen.add(meta["prompt_hash"])
            break
        produced += 1
        yield item


def generate(
    tasks: str | Sequence[str],
    n: int,
    seed: int = 0,
    level: float | None = None,
    overrides: dict[str, Any] | None = None,
    split: str = "train",
) -> list[dict[str, Any]]:
    """Convenience: `n` items as a list (knob overrides apply to every task that has the knob)."""
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    configs = resolve_configs(names, level, overrides)
    return list(iter_items(names, n, seed, configs, split))


def resolve_configs(
    tasks: Sequence[str], level: float | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, TaskConfig]:
    """Per-task configs; an override knob no listed task has is an error naming it."""
    overrides = dict(overrides or {})
    out: dict[str, TaskConfig] = {}
    used: set[str] = set()
    for t in tasks:
        cls = get_generator(t).config_cls
        mine = {k: v for k, v in overrides.items() if k in cls.knobs()}
        used.update(mine)
        cfg = cls.from_level(level, mine)
        out[t] = cfg
    unknown = [k for k in overrides if k not in used]
    if unknown:
        valid = sorted({k for t in tasks for k in get_generator(t).config_cls.knobs()})
        raise ValueError(f"unknown knob {unknown[0]!r} for {', '.join(tasks)}; valid: {', '.join(valid)}")
    return out
