"""Shared machinery for generators: difficulty knobs, hashed seeds, splits, tampering.

A generator is split in two pure halves so error injection can reuse the gold path:
`sample(rng, cfg) -> params` draws the problem, `solve(params, tamper) -> Solution`
writes the steps. `solve` routes every computed result through `tamper.at(step, value)`;
the gold solution uses `NO_TAMPER`, a corrupted one a `Tamper` that replaces exactly one
step's result and lets every later step continue from the wrong value. That keeps the
first wrong step known exactly, whatever the family.

Seeds are hashed (blake2b over task, seed, index), never added, so neighbouring seeds do
not share items and every item can be rebuilt from (task, seed, index).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Protocol, runtime_checkable

MAX_LEVEL = 10.0
HELDOUT_PERCENT = (
    10  # share of the problem space (by normalized-prompt hash) reserved for held-out evaluation
)
SPLITS = ("train", "test")

# Identity families (polynomials, calculus) record this point as `meta["variables"]`: every
# gold step is an identity in x, so it holds there too, while a wrong step cannot (by the
# rational root theorem a nonzero integer polynomial vanishes at p/q only if p divides its
# lowest and q its highest coefficient; both are primes far above any coefficient we emit).
PROBE_X = "10007/9973"


def identity_meta(**extra: Any) -> dict[str, Any]:
    """meta for families whose steps are identities in x: a substitution point and the check kind."""
    return {**extra, "variables": {"x": PROBE_X}, "step_check": "identity"}


# ----------------------------------------------------------------------------- knobs


@dataclass(frozen=True)
class Knob:
    """One difficulty knob: its value at level 0 and at MAX_LEVEL, and its valid range."""

    at0: float
    at_max: float
    lo: float
    hi: float
    help: str


def knob(at0: float, at_max: float, lo: float, hi: float, help: str) -> Any:
    """Declare a config field as a knob (default = its level-0 value)."""
    return field(default=at0, metadata={"knob": Knob(at0, at_max, lo, hi, help)})


@dataclass(frozen=True)
class TaskConfig:
    """Base of every generator config: knob fields, validated on construction."""

    task: ClassVar[str] = "task"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            spec: Knob | None = f.metadata.get("knob")
            if spec is None:
                continue
            value = getattr(self, f.name)
            want_int = f.type in (int, "int")
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (want_int and not isinstance(value, int))
            ):
                kind = "an int" if want_int else "a number"
                raise ValueError(f"{self.task}: knob {f.name} must be {kind}, got {value!r}")
            if not spec.lo <= value <= spec.hi:
                raise ValueError(
                    f"{self.task}: knob {f.name}={value!r} is out of range [{spec.lo}, {spec.hi}]"
                )
        self.check()

    def check(self) -> None:
        """Cross-knob constraints; raise ValueError naming the knobs."""

    @classmethod
    def knobs(cls) -> dict[str, Knob]:
        cached = cls.__dict__.get("_knobs_cache")
        if cached is None:  # per class (not inherited): computed once, it is on the per-item path
            cached = {f.name: f.metadata["knob"] for f in dataclasses.fields(cls) if "knob" in f.metadata}
            type.__setattr__(cls, "_knobs_cache", cached)
        return cached

    @classmethod
    def from_level(cls, level: float | None = None, overrides: dict[str, Any] | None = None) -> TaskConfig:
        """Map a scalar level in [0, MAX_LEVEL] onto every knob, then apply explicit overrides."""
        values: dict[str, Any] = {}
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= MAX_LEVEL:
                raise ValueError(f"difficulty level must be a number in [0, {MAX_LEVEL:g}], got {level!r}")
            types = {f.name: f.type for f in dataclasses.fields(cls)}
            for name, spec in cls.knobs().items():
                v = spec.at0 + (spec.at_max - spec.at0) * float(level) / MAX_LEVEL
                values[name] = int(round(v)) if types[name] in (int, "int") else round(v, 6)
        for name, raw in (overrides or {}).items():
            if name not in cls.knobs():
                raise ValueError(f"{cls.task}: unknown knob {name!r}; valid: {', '.join(cls.knobs())}")
            values[name] = coerce_knob(cls, name, raw)
        cfg = cls(**values)
        if level is not None:  # not a field: recorded in each item's `difficulty` as "level"
            object.__setattr__(cfg, "_level", float(level))
        return cfg

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.knobs()}


def coerce_knob(cls: type[TaskConfig], name: str, raw: Any) -> Any:
    """Parse a `--set knob=value` string into the knob's type."""
    ftype = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    if not isinstance(raw, str):
        return raw
    try:
        return int(raw) if ftype in (int, "int") else float(raw)
    except ValueError:
        kind = "an int" if ftype in (int, "int") else "a number"
        raise ValueError(f"{cls.task}: knob {name} must be {kind}, got {raw!r}") from None


# ----------------------------------------------------------------------------- seeds and splits


def hashed_seed(*parts: object) -> int:
    """A 63-bit seed hashed from parts (hashed, not added, so nearby seeds do not collide)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def item_seed(task: str, seed: int, index: int) -> int:
    """64-bit per-item seed hashed from (task, seed, index)."""
    digest = hashlib.blake2b(f"{task}|{seed}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def normalize_prompt(prompt: str) -> str:
    """Dedup key: lowercase, no whitespace."""
    return "".join(prompt.lower().split())


def prompt_hash(prompt: str) -> str:
    return hashlib.blake2b(normalize_prompt(prompt).encode(), digest_size=8).hexdigest()


def split_of(phash: str) -> str:
    """Held-out iff the normalized prompt hashes into the reserved share: the spaces never overlap."""
    return "test" if int(phash[:8], 16) % 100 < HELDOUT_PERCENT else "train"


# ----------------------------------------------------------------------------- solutions and tampering


@dataclass
class Solution:
    """What `solve` returns: the item's text fields plus what a verifier needs."""

    prompt: str
    answer: str
    steps: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


class Tamper:
    """Replaces the result of step `target` with a wrong value; all other steps pass through.

    `at(step, value, swapped=...)` is called by a solver once per step, with the step's index
    (len(steps) so far) and its correct result. `swapped` is the result with operands swapped,
    offered when the step has a non-commutative operation.
    """

    def __init__(self, target: int | None, rng: random.Random | None = None, kind: str | None = None) -> None:
        self.target = target
        self.rng = rng or random.Random(0)
        self.kind = kind
        self.applied: str | None = None  # the error kind used, once applied

    def at(
        self,
        step: int,
        value: Any,
        swapped: Any = None,
        extra: tuple[tuple[Any, str], ...] = (),
        avoid: tuple = (),
    ) -> Any:
        """`extra`: family-specific wrong results with their kind (e.g. a dropped carry);
        `avoid`: values a wrong result must not take (e.g. 0 for a divisor). `extra` may be a
        zero-argument callable returning the candidates, so the gold path never builds them."""
        if step != self.target:
            return value
        if callable(extra):  # built lazily: only the targeted step pays for its wrong candidates
            extra = extra()
        for _ in range(100):
            bad, self.applied = perturb(value, self.rng, swapped, extra)
            if bad not in avoid:
                return bad
        raise AssertionError(f"no wrong value for {value!r} outside {avoid!r}")


NO_TAMPER = Tamper(None)


def perturb(
    value: Any, rng: random.Random, swapped: Any = None, extra: tuple[tuple[Any, str], ...] = ()
) -> tuple[Any, str]:
    """A plausible wrong result != value: swapped operands, sign flip, carry or slip."""
    choices: list[tuple[Any, str]] = [(w, k) for w, k in extra if w != value]
    if choices and rng.random() < 0.5:  # family-specific errors are the most realistic; favour them
        return rng.choice(choices)
    if swapped is not None and swapped != value:
        choices.append((swapped, "swapped_operands"))
    if isinstance(value, (int, Fraction)):
        if value != 0:
            choices.append((-value, "sign_flip"))
        choices.append((value + rng.choice((-10, 10)), "wrong_carry"))
        delta = rng.choice((-3, -2, -1, 1, 2, 3))
        if (
            isinstance(value, Fraction) and 1 < value.denominator <= 12
        ):  # a visible fraction: slip the numerator
            choices.append((Fraction(value.numerator + delta, value.denominator), "arithmetic_slip"))
        else:
            choices.append((value + delta, "arithmetic_slip"))
    elif not choices:
        raise TypeError(f"cannot perturb {type(value).__name__}; the solver must pass extra=")
    bad, kind = rng.choice(choices)
    assert bad != value
    return bad, kind


# ----------------------------------------------------------------------------- generator protocol


@runtime_checkable
class Generator(Protocol):
    """One task family: config class, sampler, solver and its own answer scorer."""

    name: str
    description: str
    config_cls: type[TaskConfig]
    injectable: bool  # solve() routes its results through tamper (error injection supported)

    def sample(self, rng: random.Random, cfg: TaskConfig) -> dict[str, Any]: ...

    def solve(self, params: dict[str, Any], tamper: Tamper = NO_TAMPER) -> Solution: ...

    def score(self, item: dict[str, Any], response: str) -> float: ...
