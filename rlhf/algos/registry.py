"""The two algorithm families, filled by `rlhf.algos.advantages` and `rlhf.algos.losses` on import."""

from rewards.registry import Registry

ADVANTAGES: Registry = Registry("advantage")
LOSSES: Registry = Registry("loss")
