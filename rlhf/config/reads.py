"""What a trainer reads from a recipe: the declaration each trainer module makes as `READS`.

`rlhf.trainers.checks` compares a recipe's explicit settings (the YAML and the command line's
overrides, not the defaults) with the chosen trainer's declaration and refuses the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from rlhf.config.loader import yaml_key

# What every trainer reads from `train:` (rlhf.runtime.optim); the other keys are the RL trainers'.
SHARED_TRAIN_KEYS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "optimizer",
    "lr_scheduler",
    "warmup_steps",
    "warmup_ratio",
    "warmup_offset",
    "min_lr_ratio",
    "max_grad_norm",
    "max_bad_steps",
    "cpu_threads",
)


@dataclass(frozen=True)
class Reads:
    """What one trainer reads from a recipe (each trainer module declares its `READS`).

    A recipe or override that sets anything else is refused by `rlhf.trainers.checks`: a
    setting the chosen trainer would silently ignore is a mistake, never a no-op.
    """

    sections: tuple[str, ...]  # top-level sections (and `rewards`) read whole
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # shared sections: the keys read
    instead: dict[str, str] = field(
        default_factory=dict
    )  # an unread key -> where this trainer's equivalent lives


def keys_of(section: type, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys of a section's dataclass, less `without` (a trainer reading all but a few)."""
    names = tuple(yaml_key(f) for f in fields(section))
    unknown = [w for w in without if w not in names]
    assert not unknown, f"{section.__name__} has no keys {unknown}"  # a declaration bug, not user input
    return tuple(n for n in names if n not in without)
