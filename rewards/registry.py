"""Registries: one small `Registry` type shared by every component family, and the reward families.

One small registry type shared by every component family.

Generators, rewards, advantage estimators, losses and samplers are all chosen by
name from a recipe. Each family owns one `Registry`; a name registered twice is a
bug (raise), and an unknown name is a user error (ValueError listing the options).
A recipe may also name user code directly as ``package.module:attribute``.

`REWARDS` maps a name to an outcome-reward factory and `STEP_REWARDS` to a step-reward factory;
a recipe lists rewards as `{name, weight, params}` and the factory is called with `**params`
(see `rewards.base.Reward` and `rewards.base.StepReward`).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> component for one family (e.g. ``ADVANTAGES = Registry("advantage")``)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as ``@REG.register("name")``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.family} registry: name must be a non-empty string, got {name!r}")

        def _add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.family} {name!r} is already registered")
            self._items[name] = item
            return item

        return _add(obj) if obj is not None else _add

    def register_lazy(self, name: str, spec: str) -> None:
        """Register ``package.module:attr`` to be imported on first `get` (keeps heavy imports lazy)."""
        if ":" not in spec:
            raise ValueError(f"{self.family} {name!r}: lazy spec {spec!r} must be 'package.module:attribute'")
        self.register(name, _Lazy(spec))  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        """Resolve a registered name, or ``package.module:attr`` for user code."""
        if not isinstance(name, str):
            raise TypeError(f"{self.family} name must be a string, got {type(name).__name__}: {name!r}")
        if name in self._items:
            item = self._items[name]
            if isinstance(item, _Lazy):
                item = self._items[name] = load_object(item.spec, what=f"{self.family} {name!r}")  # type: ignore[assignment]
            return item
        if ":" in name:
            return load_object(name, what=self.family)
        close = difflib.get_close_matches(name, self._items, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        options = ", ".join(sorted(self._items)) or "none registered"
        raise ValueError(f"unknown {self.family} {name!r}{hint}; valid: {options}")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


class _Lazy:
    __slots__ = ("spec",)

    def __init__(self, spec: str) -> None:
        self.spec = spec


def load_object(spec: str, what: str = "object") -> object:
    """Import ``package.module:attr.sub`` and return the attribute."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"{what} {spec!r}: expected 'package.module:attribute'")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    return obj


# ----------------------------------------------------------------------------- the reward families


REWARDS: Registry = Registry("reward")
STEP_REWARDS: Registry = Registry("step reward")

# Outcome rewards, imported on first use so `import rewards.registry` stays light.
REWARDS.register_lazy("code_tests", "rewards.code.verify:CodeTestsReward")
REWARDS.register_lazy("math_answer", "rewards.math.verify:MathAnswerReward")

# Step-level rewards (rewards/step_rewards.py); `step_aggregate` makes any of them an outcome reward.
STEP_REWARDS.register_lazy("rule", "rewards.step_rewards:make_rule")
STEP_REWARDS.register_lazy("prm", "rewards.step_rewards:make_prm")
STEP_REWARDS.register_lazy("implicit_prm", "rewards.prm.implicit:make_implicit_prm")
STEP_REWARDS.register_lazy("function", "rewards.step_rewards:make_function")
REWARDS.register_lazy("step_aggregate", "rewards.step_rewards:make_step_aggregate")
REWARDS.register_lazy("format", "rewards.format:FormatReward")
REWARDS.register_lazy("length_penalty", "rewards.format:LengthPenalty")
REWARDS.register_lazy("repetition_penalty", "rewards.format:RepetitionPenalty")
