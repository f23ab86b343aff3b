"""The optimisation runtime every trainer shares: optimizer, LR schedule, clipping, non-finite losses.

Every trainer (grpo, ppo, sft, distill's finetune, prm) reads the same `train:` knobs through
this module, so a setting means the same thing everywhere:

- `build_optimizer`: AdamW over the trainable parameters (`train.lr`, `train.weight_decay`,
  `train.optimizer`: torch's plain kernel or its fused one, which is what transformers picked for
  SFT; the two agree up to float rounding);
- `build_scheduler`: linear warmup (`train.warmup_steps`, or `train.warmup_ratio` of all
  updates, rounded down), then cosine or linear decay to `train.min_lr_ratio * lr`, or constant
  (`train.lr_scheduler`). The formulas are transformers' own, so the RL loop's schedule and the
  SFT trainer's are the numbers they always were; `train.warmup_offset: 1` is the PRM trainer's
  former warmup, which does not spend its first update at LR 0;
- `update`: one gradient step: clip to `train.max_grad_norm` (0: measure the norm, do not
  clip), then step every optimizer and the schedule, unless the loss or the gradient is not
  finite: then the update is skipped and the schedule does not move;
- `BadSteps`: the non-finite-loss policy: count skipped steps in a row and stop the run with a
  clear error after `train.max_bad_steps` of them (each trainer writes a checkpoint first).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rlhf.runtime import killpoints

ClipFn = Callable[[Iterable[torch.Tensor], float], Any]


class RunStopped(ValueError):
    """The run stopped itself (e.g. K non-finite losses in a row); a checkpoint was written.

    A ValueError so `cotrl` prints it as one line."""


# ----------------------------------------------------------------------------- optimizer and schedule


def build_optimizer(params: Iterable[torch.Tensor], train: Any) -> torch.optim.Optimizer:
    """AdamW over `params` (the trainable ones) from `train.lr`, `train.weight_decay`, `train.optimizer`."""
    return adamw([p for p in params if p.requires_grad], train.lr, train.weight_decay, train.optimizer)


def adamw(
    params: list[torch.Tensor], lr: float, weight_decay: float, kind: str = "adamw"
) -> torch.optim.Optimizer:
    """torch AdamW with its default betas and eps; `kind` "adamw_fused" selects the fused kernel."""
    if kind not in ("adamw", "adamw_fused"):
        raise ValueError(f"train.optimizer must be adamw or adamw_fused, got {kind!r}")
    extra = {"fused": True} if kind == "adamw_fused" else {}
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **extra)


def warmup_steps(train: Any, total: int) -> int:
    """Warmup updates: `train.warmup_steps`, or `train.warmup_ratio` of `total` rounded down."""
    if train.warmup_ratio > 0:
        return int(train.warmup_ratio * total)
    return train.warmup_steps


@dataclass
class Schedule:
    """The LR multiplier of update `s` (a `LambdaLR` lr_lambda; its fields travel in the scheduler's
    state_dict, so a resumed run continues the same curve).

    `skipped` counts updates a loop skipped but stepped the scheduler for anyway (transformers'
    Trainer always steps it); they do not advance the curve. Loops that own their update (RL,
    PRM) simply do not step the scheduler on a skipped update.
    """

    kind: str  # cosine | linear | constant
    warmup: int
    total: int
    min_ratio: float = 0.0
    offset: int = 0  # warmup LR of update s is (s + offset) / warmup
    skipped: int = 0

    def stretch(self, planned: Schedule) -> None:
        """Take `planned`'s length (and warmup) after a checkpoint restored an older one: a run
        resumed with a larger `train.steps` decays over the new total, not past the old one's end
        (where the cosine would climb back up)."""
        self.total, self.warmup = planned.total, planned.warmup

    def __call__(self, step: int) -> float:
        s = step - self.skipped
        if s < self.warmup:  # transformers' warmup (offset 0), float for float
            return float(s + self.offset) / float(max(1, self.warmup))
        if self.kind == "constant":
            return 1.0
        progress = float(s - self.warmup) / float(max(1, self.total - self.warmup))
        if self.kind == "cosine":  # transformers' get_cosine_with_min_lr_schedule_with_warmup
            factor = 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress))
        else:  # transformers' get_linear_schedule_with_warmup
            factor = max(0.0, float(self.total - s) / float(max(1, self.total - self.warmup)))
        return max(0.0, factor * (1 - self.min_ratio) + self.min_ratio)


def build_scheduler(
    optimizer: torch.optim.Optimizer, train: Any, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The LR schedule over `total` optimizer updates, from `train.lr_scheduler`, warmup and `min_lr_ratio`."""
    schedule = Schedule(
        kind=train.lr_scheduler,
        warmup=warmup_steps(train, total),
        total=total,
        min_ratio=train.min_lr_ratio,
        offset=train.warmup_offset,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def schedule_of(scheduler: Any) -> Schedule:
    """The `Schedule` inside a scheduler built here (through accelerate's wrapper too)."""
    inner = getattr(scheduler, "scheduler", scheduler)
    (schedule,) = inner.lr_lambdas
    assert isinstance(schedule, Schedule), "scheduler not built by rlhf.runtime.optim.build_scheduler"
    return schedule


# ----------------------------------------------------------------------------- one update


def clip_gradients(
    params: Iterable[torch.Tensor], max_grad_norm: float, clip_fn: ClipFn | None = None
) -> float:
    """Clip the global gradient norm to `max_grad_norm` and return the norm before clipping.

    With 0 nothing is clipped (the norm is still measured: it is logged, and a non-finite
    one skips the update). `clip_fn` is accelerate's `clip_grad_norm_` where one is in use
    (several processes, sharded models), else torch's.
    """
    clip = clip_fn or torch.nn.utils.clip_grad_norm_
    return float(clip(params, max_grad_norm if max_grad_norm > 0 else float("inf")))


@dataclass(frozen=True)
class Update:
    grad_norm: float  # before clipping; nan when the loss was not finite (no backward ran)
    applied: bool  # False: skipped for a non-finite loss or gradient


def update(
    optimizers: Sequence[torch.optim.Optimizer],
    scheduler: Any,
    params: Iterable[torch.Tensor],
    max_grad_norm: float,
    *,
    step: int,
    loss_finite: bool = True,
    clip_fn: ClipFn | None = None,
) -> Update:
    """Finish one update whose gradients are accumulated: clip, then step every optimizer and the
    schedule, or skip all of it when the loss or the gradient norm is not finite. Gradients are
    zeroed either way. `step` names the update for the fault tests' kill point."""
    grad_norm = float("nan")
    applied = loss_finite
    if loss_finite:
        grad_norm = clip_gradients(params, max_grad_norm, clip_fn)
        applied = math.isfinite(grad_norm)
    killpoints.reached("update", step)  # fault tests: die between backward and optimizer step
    if applied:
        for opt in optimizers:
            opt.step()
        scheduler.step()
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    return Update(grad_norm, applied)


# ----------------------------------------------------------------------------- non-finite losses


@dataclass
class BadSteps:
    """Steps in a row whose update was skipped for a non-finite loss; the run stops at `limit`."""

    limit: int  # train.max_bad_steps
    in_a_row: int = 0

    def record(self, bad: bool, step: int) -> bool:
        """Count step `step`; True when the run must stop (the caller checkpoints, then raises `error`)."""
        if not bad:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        print(
            f"cotrl: step {step}: non-finite loss, update skipped ({self.in_a_row} in a row)", file=sys.stderr
        )
        return self.in_a_row >= self.limit

    def error(self, step: int, checkpoints: Any) -> RunStopped:
        return RunStopped(
            f"stopped at step {step}: {self.in_a_row} steps in a row had a non-finite loss "
            f"(train.max_bad_steps={self.limit}); checkpoint saved in {checkpoints}. "
            "Lower train.lr or check the data, then continue with --resume"
        )
