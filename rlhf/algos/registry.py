"""The two algorithm families, filled by `rlhf.algos.advantages` and `rlhf.algos.losses` on import.

Advantage estimators describe themselves: each is registered with an `EstimatorInfo`
saying which batch fields it reads, so the loops, the step metrics, the recipe checks
(rlhf/trainers/checks.py) and the README's estimator table read that instead of lists of
names. Registering an estimator without one fails at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rewards.registry import Registry, load_object

# What an estimator can read from a `RolloutBatch`, in the order the README lists them.
INPUTS: dict[str, str] = {
    "outcomes": "outcome per rollout",  # outcome_rewards / outcome_mask [N]
    "steps": "step scores",  # step_rewards / step_mask [N, T]: needs a step reward in `rewards:`
    "token_rewards": "token rewards",  # token_rewards [N, T]: steps, outcome and folded KL on one grid
    "values": "critic values",  # values [N, T]: needs a trainer with a critic (ppo)
}


@dataclass(frozen=True)
class EstimatorInfo:
    """What an advantage estimator reads, so callers never test its name.

    ``reads``: a subset of `INPUTS`. An estimator is token-level (KL folded into the
    rewards reaches it, `algo.kl_in_reward`) when it reads ``token_rewards`` and needs a
    critic when it reads ``values``. ``parts``: for an estimator made of others, (label,
    estimator name) pairs; each part's mean |advantage| is logged as ``adv_<label>_abs``.
    ``needs_group``: the advantage is relative to the other samples of the same prompt, so a
    group of one (`rollout.n: 1`) makes every advantage 0 and the run learns nothing.
    ``description``: one line, the README table's last column.
    """

    reads: frozenset[str]
    description: str
    parts: tuple[tuple[str, str], ...] = ()
    needs_group: bool = (
        False  # the baseline is the other samples of the prompt: rollout.n=1 gives 0 everywhere
    )

    def __post_init__(self) -> None:
        reads = frozenset((self.reads,) if isinstance(self.reads, str) else self.reads)
        unknown = sorted(reads - INPUTS.keys())
        if not reads or unknown:
            raise ValueError(
                f"EstimatorInfo.reads: {sorted(reads)} must be a non-empty subset of {list(INPUTS)}"
            )
        object.__setattr__(self, "reads", reads)
        if not isinstance(self.description, str) or not self.description.strip() or "\n" in self.description:
            raise ValueError(
                f"EstimatorInfo.description must be one non-empty line, got {self.description!r}"
            )
        for part in self.parts:
            if not (
                isinstance(part, tuple) and len(part) == 2 and all(isinstance(s, str) and s for s in part)
            ):
                raise ValueError(f"EstimatorInfo.parts: expected (label, estimator name) pairs, got {part!r}")

    @property
    def token_level(self) -> bool:
        return "token_rewards" in self.reads

    @property
    def needs_critic(self) -> bool:
        return "values" in self.reads

    @property
    def reads_steps(self) -> bool:
        return "steps" in self.reads

    def reads_text(self) -> str:
        """The inputs in words, e.g. ``token rewards + critic values``."""
        return " + ".join(words for key, words in INPUTS.items() if key in self.reads)


# User code (`algo.advantage: package.module:fn`) describes itself with this attribute on the
# function; without it nothing is assumed and the recipe checks skip the estimator.
INFO_ATTRIBUTE = "estimator_info"


class EstimatorRegistry(Registry):
    """`Registry` of advantage estimators, each registered with its `EstimatorInfo`."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self._infos: dict[str, EstimatorInfo] = {}

    def register(self, name: str, obj: Any = None, *, info: EstimatorInfo | None = None) -> Any:
        """``@ADVANTAGES.register("name", info=EstimatorInfo(...))``; no info is a TypeError."""
        if not isinstance(info, EstimatorInfo):
            raise TypeError(
                f"{self.family} {name!r}: register it with info=EstimatorInfo(reads=..., description=...), "
                f"got info={info!r}"
            )
        add = super().register(name)

        def _add(fn: Callable) -> Callable:
            add(fn)
            self._infos[name] = info
            return fn

        return _add(obj) if obj is not None else _add

    def register_lazy(self, name: str, spec: str, *, info: EstimatorInfo | None = None) -> None:
        if ":" not in spec:
            raise ValueError(f"{self.family} {name!r}: lazy spec {spec!r} must be 'package.module:attribute'")
        self.register(name, _LazySpec(spec), info=info)

    def get(self, name: str) -> Any:
        item = super().get(name)
        if isinstance(item, _LazySpec):
            item = self._items[name] = load_object(item.spec, what=f"{self.family} {name!r}")
        return item

    def info(self, name: str, import_user_code: bool = True) -> EstimatorInfo | None:
        """The metadata of a registered name, or of user code's ``estimator_info`` attribute.

        None for user code that carries none (or, with ``import_user_code=False``, for any
        ``package.module:attr``: config loading does not import user modules).
        An unknown registered name raises the registry's ValueError.
        """
        if name in self._infos:
            return self._infos[name]
        if ":" in name and not import_user_code:
            return None
        found = getattr(self.get(name), INFO_ATTRIBUTE, None)
        if found is not None and not isinstance(found, EstimatorInfo):
            raise TypeError(
                f"{self.family} {name!r}: {INFO_ATTRIBUTE} must be an EstimatorInfo, got {type(found).__name__}"
            )
        return found

    def infos(self) -> dict[str, EstimatorInfo]:
        """Every registered estimator's metadata, by name, in registration order."""
        return dict(self._infos)

    def markdown_table(self) -> str:
        """The README's estimator table, one row per registered estimator (tests keep them equal)."""
        rows = ["| estimator | reads | advantage of a token |", "|---|---|---|"]
        rows += [f"| `{name}` | {i.reads_text()} | {i.description} |" for name, i in self._infos.items()]
        return "\n".join(rows)


class _LazySpec:
    __slots__ = ("spec",)

    def __init__(self, spec: str) -> None:
        self.spec = spec


ADVANTAGES: EstimatorRegistry = EstimatorRegistry("advantage")
LOSSES: Registry = Registry("loss")
