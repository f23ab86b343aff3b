"""What every RL step does after its update, shared by the GRPO and PPO loops.

The loops differ in how they compute advantages and what they optimise; after the
update they do the same things in the same order: hand the new weights to the sampler,
move the curriculum, record the step, keep a few samples, watch for non-finite losses,
and checkpoint on schedule.
"""

from __future__ import annotations

import time
from typing import Any

from rlhf.runtime import distributed as dist
from rlhf.runtime.hardware import HardwareMonitor
from rlhf.trainers.rl import common as rc
from rlhf.trainers.rl import report as report


def skip_step(
    rl: rc.RL, step: int, record: dict[str, Any], col: rc.Collected, t_start: float, bar: Any = None
) -> None:
    """A batch with nothing to learn from (e.g. every reward None): logged, shown, checkpointed on schedule."""
    record.update(col.metrics, skipped=col.skip_reason, seconds=time.perf_counter() - t_start)
    record.update(hardware(rl))
    if col.skip_detail:
        record["skipped_why"] = col.skip_detail
    rl.log.log(record)
    if bar is not None:
        bar.update(step + 1, f"skipped: {col.skip_reason}")
    maybe_save(rl, step)


def finish_step(
    rl: rc.RL,
    step: int,
    record: dict[str, Any],
    col: rc.Collected,
    stats: dict[str, float],
    t_start: float,
    bar: Any,
) -> dict[str, Any]:
    """Sync the sampler, move the curriculum, log the step and its samples, then check and checkpoint."""
    sync = rl.sampler.sync_weights(rl.unwrapped)  # the next rollouts use the new policy
    record["time_sync"] = sync.seconds
    if sync.probe_max_abs_diff is not None:
        record["sync_probe_max_abs_diff"] = sync.probe_max_abs_diff
    record.update(dist.maybe_check_sync(rl, step))  # several processes: weights still identical?

    moves = rl.curriculum.update(dist.gather_flat(rl.accelerator, rc.group_pass_rates(col)))
    if rl.curriculum.cfg.enabled:
        record.update({f"level/{t}": lv for t, lv in rl.curriculum.levels.items()})
    record["curriculum_moves"] = sum(abs(v) for v in moves.values())

    record["seconds"] = time.perf_counter() - t_start
    record["tokens_per_second"] = record["rollout_tokens"] / record["seconds"]
    record.update(hardware(rl))
    rl.log.log(record)
    for sample in report.sample_records(step, col, rl.cfg.train.samples_per_step):
        rl.run_dir.append_jsonl(rl.run_dir.samples_path, sample)
    bar.update(step + 1, report.step_info(record))
    check_bad_steps(rl, step, stats)
    maybe_save(rl, step)
    return record


def hardware(rl: rc.RL) -> dict[str, float]:
    """This step's CPU, memory and GPU readings (`rlhf.runtime.hardware`), for every sink."""
    return rl.extra.setdefault("hardware", HardwareMonitor()).read()


def save_last(rl: rc.RL) -> None:
    """The final checkpoint, unless the schedule already wrote it."""
    steps, every = rl.cfg.train.steps, rl.cfg.run.save_every
    if steps > 0 and not (every and steps % every == 0):
        rc.save(rl, steps - 1)


def maybe_save(rl: rc.RL, step: int) -> None:
    every = rl.cfg.run.save_every
    if every and (step + 1) % every == 0:
        rc.save(rl, step)


def check_bad_steps(rl: rc.RL, step: int, stats: dict[str, float]) -> None:
    """A step whose every update was skipped for a non-finite loss is bad (the shared policy,
    `rlhf.runtime.optim.BadSteps`); after `train.max_bad_steps` in a row, checkpoint and stop."""
    bad = stats.get("skipped_updates", 0) >= rc.optimizer_steps_per_rl_step(rl.cfg)
    if rl.bad.record(bad, step):
        rc.save(rl, step)
        raise rl.bad.error(step, rl.run_dir.checkpoints)
