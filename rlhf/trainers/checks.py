"""Everything a recipe is checked for before a run directory exists or a model loads.

`load_recipe` is the one way a recipe is read for training: the strict schema (rlhf.config),
then what needs the registries: the trainer name, reward names and the algorithm names.
"""

from __future__ import annotations

from pathlib import Path

from rlhf.algos import validate_algo_names
from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.trainers import TRAINERS


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a recipe, then check it against the registries."""
    return check_recipe(config.load(RunConfig, path, overrides))


def check_recipe(cfg: RunConfig) -> RunConfig:
    """What the schema alone cannot know: registered trainer, reward and algorithm names."""
    TRAINERS.get(cfg.trainer)  # unknown trainer fails here, listing the valid ones
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
