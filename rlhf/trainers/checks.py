"""Everything a recipe is checked for before a run directory exists or a model loads.

`load_recipe` is the one way a recipe is read for training: the strict schema (rlhf.config),
then what needs the registries: the trainer name, reward names and the algorithm names, and
whether the advantage estimator suits the trainer and the rewards (from its `EstimatorInfo`);
then what needs the trainer's own declaration (`READS` in its module): a section or key the recipe
sets (in the YAML or on the command line; defaults do not count) that the trainer never reads
is an error naming the trainer and the key, never a silent no-op.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rlhf.algos import ADVANTAGES, EstimatorInfo, validate_algo_names
from rlhf.config import loader as config
from rlhf.config.reads import Reads
from rlhf.config.recipe import RunConfig
from rlhf.runtime.sinks import check_sinks
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
    check_sinks(cfg.run.report_to)  # a tracker that is not installed: one line, whichever the trainer
    try:
        validate_algo_names(cfg.algo)
    except ValueError as exc:
        raise config.ConfigError(str(exc)) from None
    check_estimator(cfg)
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


# ----------------------------------------------------------------------------- estimator vs trainer

RL_TRAINERS = frozenset({"grpo", "ppo"})  # trainers that run `algo.advantage`
CRITIC_TRAINERS = frozenset({"ppo"})  # trainers that train a critic, i.e. fill batch.values


def check_estimator(cfg: RunConfig, import_user_code: bool = False) -> None:
    """The estimator's `EstimatorInfo` against the trainer and the rewards (ConfigError naming the key).

    Runs at load time for registered names; user code (`package.module:fn`) is not imported
    then, so the RL setup calls this again with ``import_user_code=True``; user code without
    an ``estimator_info`` attribute is not checked.
    """
    if cfg.trainer not in RL_TRAINERS:
        return
    info = ADVANTAGES.info(cfg.algo.advantage, import_user_code=import_user_code)
    if info is None:
        return
    check_estimator_critic(cfg, info)
    check_group_size(cfg, info)
    check_estimator_step_rewards(cfg, info)
    check_kl_in_reward(cfg, info)


def _names(keep: Callable[[EstimatorInfo], bool]) -> str:
    return ", ".join(name for name, info in ADVANTAGES.infos().items() if keep(info))


def check_estimator_critic(cfg: RunConfig, info: EstimatorInfo) -> None:
    """An estimator that reads critic values needs a trainer that trains a critic, and a critic
    nobody reads would be trained for nothing (PPO's critic exists for its estimator)."""
    name = cfg.algo.advantage
    has_critic = cfg.trainer in CRITIC_TRAINERS
    if info.needs_critic and not has_critic:
        raise config.ConfigError(
            f"algo.advantage={name!r} reads critic values, which trainer: {cfg.trainer} does not train; "
            f"use trainer: {' or '.join(sorted(CRITIC_TRAINERS))}, or an estimator without a critic "
            f"({_names(lambda i: not i.needs_critic)})"
        )
    if has_critic and not info.needs_critic:
        raise config.ConfigError(
            f"trainer: {cfg.trainer} trains a critic that algo.advantage={name!r} never reads "
            f"(it reads {info.reads_text()}); use trainer: grpo, or an estimator that reads critic "
            f"values ({_names(lambda i: i.needs_critic)})"
        )


def check_group_size(cfg: RunConfig, info: EstimatorInfo) -> None:
    """A group-relative estimator compares each sample with the others of its prompt; with one
    sample per prompt every advantage is 0, every gradient 0, and the run trains on nothing."""
    if info.needs_group and cfg.rollout.n < 2:
        raise config.ConfigError(
            f"rollout.n={cfg.rollout.n} with algo.advantage={cfg.algo.advantage!r}: the estimator's "
            "baseline is the other samples of the same prompt, so a group of one gives every token "
            "advantage 0 and nothing is learned; set rollout.n >= 2, or use an estimator with "
            f"another baseline ({_names(lambda i: not i.needs_group and not i.needs_critic)})"
        )


def check_estimator_step_rewards(cfg: RunConfig, info: EstimatorInfo) -> None:
    """An estimator that reads step scores needs a step reward in `rewards:`; without one every
    batch has no step scores and the estimator fails after the first rollout."""
    from rewards.registry import STEP_REWARDS

    if not info.reads_steps:
        return
    # user code may score steps (a `score_steps` method), known only once it is built
    if any(spec.name in STEP_REWARDS or ":" in spec.name for spec in cfg.rewards):
        return
    listed = ", ".join(spec.name for spec in cfg.rewards) or "nothing"
    raise config.ConfigError(
        f"algo.advantage={cfg.algo.advantage!r} reads step scores, but rewards: lists no step reward "
        f"({listed}); add one of {', '.join(STEP_REWARDS.names())} (e.g. {{name: rule}}), or pick an "
        f"estimator that does not read steps ({_names(lambda i: not i.reads_steps)})"
    )


def check_kl_in_reward(cfg: RunConfig, info: EstimatorInfo) -> None:
    """KL folded into the token rewards reaches only an estimator that reads token rewards."""
    if cfg.algo.kl_in_reward and not info.token_level:
        raise config.ConfigError(
            f"algo.kl_in_reward needs a token-level advantage ({_names(lambda i: i.token_level)}); "
            f"algo.advantage={cfg.algo.advantage!r} reads {info.reads_text()}, not token rewards"
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
