"""How the RL loops react to faults they can name: rewards that keep failing, and out-of-memory.

A reward that crashes, hangs or returns garbage is masked per sample by
`rewards.guard` (the run goes on; `reward_fault_frac` counts it). When it fails for most of
the batch `faults.max_reward_fail_steps` steps in a row, training on what little is left
would be noise, so the run stops with a checkpoint and says which reward failed and how.
An out-of-memory error in a forward/backward becomes a message naming the knobs to lower.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from rlhf.runtime import distributed as dist

F = TypeVar("F", bound=Callable[..., Any])

OOM_MARKERS = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")


class RewardFailure(ValueError):
    """Rewards failed for most of the batch too many steps in a row; a checkpoint was written.

    A ValueError so `cotrl` prints it as one line (the user must fix the reward)."""


class OutOfMemory(ValueError):
    """An update ran out of memory; the message names the recipe knobs that lower its peak."""


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, getattr(__import__("torch"), "OutOfMemoryError", ())):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and any(m in str(exc).lower() for m in OOM_MARKERS)


def oom_message(cfg: Any, where: str, exc: BaseException) -> str:
    t, r = cfg.train, cfg.rollout
    micro = t.micro_batch_size or "0 (= the whole mini-batch)"
    rows = cfg.data.prompts_per_step * r.n
    return (
        f"out of memory during {where} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        f"Lower one of: train.micro_batch_size (now {micro}; rollouts per forward/backward), "
        f"rollout.max_new_tokens (now {r.max_new_tokens}; the longest completion), "
        f"rollout.n (now {r.n}; the group size) or "
        f"data.prompts_per_step (now {cfg.data.prompts_per_step}; "
        f"{rows} rollouts per step), or raise train.mini_batches (now {t.mini_batches}); "
        f"model.gradient_checkpointing and lora.enabled also cut activation/optimizer memory."
    )


def explain_oom(where: str) -> Callable[[F], F]:
    """Decorate a loop piece whose first argument is the `RL` state: OOM -> `OutOfMemory`."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(rl: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(rl, *args, **kwargs)
            except (RuntimeError, MemoryError) as exc:
                if not is_oom(exc):
                    raise
                rl.optimizer.zero_grad(set_to_none=True)  # frees what the failed backward held
                raise OutOfMemory(oom_message(rl.cfg, where, exc)) from exc

        return inner  # type: ignore[return-value]

    return wrap


def reward_fail_streak(
    rl: Any, step: int, metrics: dict[str, float], save: Callable[[Any, int], None]
) -> dict[str, float]:
    """Update the count of failed-reward steps in a row; stop the run past the limit.

    A step "fails" when more than `faults.reward_fail_frac` of its samples lost a reward to a
    fault, on any process (all processes must agree to stop together).
    """
    f = rl.cfg.faults
    frac = float(metrics.get("reward_fault_frac", 0.0))
    failed = not dist.all_true(rl.accelerator, frac <= f.reward_fail_frac)
    streak = rl.extra.get("reward_fail_steps", 0) + 1 if failed else 0
    rl.extra["reward_fail_steps"] = streak
    if streak >= f.max_reward_fail_steps:
        where = "none written (no step completed)"
        if step > 0:
            save(rl, step - 1)
            where = f"{rl.run_dir.checkpoints} (after step {step - 1}; --resume reruns step {step})"
        raise RewardFailure(
            f"stopped at step {step}: rewards failed for more than {f.reward_fail_frac:.0%} of the batch "
            f"{streak} steps in a row (faults.max_reward_fail_steps={f.max_reward_fail_steps}); "
            f"faults this step: {_fault_summary(metrics) or 'see metrics.jsonl'}; checkpoint: {where}. "
            f"Fix the reward, then continue with --resume."
        )
    return {"reward_fail_steps": float(streak)}


def _fault_summary(metrics: dict[str, float]) -> str:
    parts = [
        f"{k.removeprefix('reward/')}={int(v)}"
        for k, v in sorted(metrics.items())
        if k.startswith("reward/") and "/fault/" in k and v
    ]
    return ", ".join(parts)
