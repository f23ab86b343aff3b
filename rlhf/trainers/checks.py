"""Everything a recipe is checked for before a run directory exists or a model loads.

`load_recipe` is the one way a recipe is read for training: the strict schema (rlhf.config),
then what needs the registries: the trainer name, reward names and the algorithm names, and
what needs the trainer's own declaration (`READS` in its module): a section or key the recipe
sets (in the YAML or on the command line; defaults do not count) that the trainer never reads
is an error naming the trainer and the key, never a silent no-op.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rlhf.algos import validate_algo_names
from rlhf.config import loader as config
from rlhf.config.reads import Reads
from rlhf.config.recipe import RunConfig
from rlhf.trainers import TRAINERS


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a recipe, then check it against the registries and its trainer."""
    raw = config.load_raw(path, overrides)
    return check_recipe(config.from_dict(RunConfig, raw), raw)


def check_recipe(cfg: RunConfig, raw: Mapping[str, Any] | None = None) -> RunConfig:
    """What the schema alone cannot know: registered trainer, reward and algorithm names, and (given
    the recipe's `raw` mapping, overrides applied) settings the trainer does not read."""
    TRAINERS.get(cfg.trainer)  # unknown trainer fails here, listing the valid ones
    if raw is not None:
        check_settings_read(cfg.trainer, raw)
    check_reward_names(cfg)
    try:
        validate_algo_names(cfg.algo)
    except ValueError as exc:
        raise config.ConfigError(str(exc)) from None
    return cfg


def check_reward_names(cfg: RunConfig) -> None:
    """Unknown reward names fail at load time (before a run directory exists), listing both families."""
    from rewards.registry import REWARDS, STEP_REWARDS

    for i, spec in enumerate(cfg.rewards):
        if spec.name in REWARDS or spec.name in STEP_REWARDS or ":" in spec.name:
            continue
        valid = ", ".join(sorted(set(REWARDS.names()) | set(STEP_REWARDS.names())))
        raise ValueError(
            f"rewards[{i}].name: unknown reward {spec.name!r}; valid: {valid} (or package.module:attr)"
        )


# ----------------------------------------------------------------------------- settings a trainer reads


def trainer_reads(trainer: str) -> Reads | None:
    """The `READS` declared by the trainer's module (None: user code that declares nothing)."""
    fn = TRAINERS.get(trainer)
    return getattr(sys.modules.get(getattr(fn, "__module__", ""), None), "READS", None)


def check_settings_read(trainer: str, raw: Mapping[str, Any]) -> None:
    """Refuse the first setting in `raw` that `trainer` does not read, with where to put it instead."""
    reads = trainer_reads(trainer)
    if reads is None:
        return
    for key in unread_settings(reads, raw):
        raise config.ConfigError(unread_message(trainer, reads, key))


def unread_settings(reads: Reads, raw: Mapping[str, Any]) -> Iterator[str]:
    """Dotted keys set in `raw` outside `reads`: a whole section, or a key of a shared section."""
    for section, value in raw.items():
        if section == "trainer" or section in reads.sections:
            continue
        if section not in reads.keys:
            yield section
        elif isinstance(value, Mapping):
            yield from (f"{section}.{k}" for k in value if k not in reads.keys[section])


def unread_message(trainer: str, reads: Reads, key: str) -> str:
    section, _, sub = key.partition(".")
    # the key is valid for some trainer, so only a near-identical name read by this one is a likely slip
    if key in reads.instead:
        hint = f"; did you mean {reads.instead[key]!r}?"
    elif sub:
        hint = config.close_match_hint(sub, reads.keys[section], section, cutoff=0.8)
    else:
        hint = config.close_match_hint(section, [*reads.sections, *reads.keys], cutoff=0.8)
    what = f"{key!r}" if sub else f"the {key!r} section"
    if sub:
        where = f"of {section}: it reads {', '.join(reads.keys[section])}"
    else:
        where = f"it reads {', '.join([*reads.sections, *reads.keys])}"
    return f"trainer {trainer!r} does not read {what}, which the recipe sets{hint} ({where})"
