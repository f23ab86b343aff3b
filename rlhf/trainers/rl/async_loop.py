"""Asynchronous GRPO (`train.async.enabled`): step k+s's rollouts are sampled while step k trains.

The synchronous loop (grpo.py) alternates: sample, score, update, sample... On two cores one
of them idles at every moment. Here a sampler with its own copy of the policy, in a child
process (`rlhf.rollout.async_process`, the default: a small model's decode loop is mostly
Python and would share the GIL with the update) or on a thread (`rlhf.rollout.async_sampler`,
`train.async.sampler: thread`), runs `s = train.async.max_staleness` steps ahead:

1. At the start of step k the trainer draws step k+s's problems (with the curriculum levels
   it has now), and submits them with policy version k (the weights after k steps). The
   first s steps of a run (or of a resumed run) are submitted at its start, with its first
   version.
2. It takes step k's completions (sampled by version k-s while steps k-s.. k-1 trained),
   checks their version (older than s: dropped, counted, and resampled here with the current
   weights), scores them and builds the batch.
3. pi_old is the trainer's current policy: with one optimizer step per batch, the update's own
   forward, detached (no extra forward; `rc.separate_old`); with several, a forward before them.
   The sampler's logprobs come from the older version, so each token's loss is weighted by
   pi_old / pi_sampler, truncated at or
   masked above `algo.tis_cap` (`algo.tis_mode`): the loss's `is_ratio_mean`, `is_ratio_max`
   and `is_clipped_frac` show how far off-policy the batch was.
4. Advantages, update, and the new weights published as version k+1 (the sampler verifies
   each version it loads with the parity probe, against the trainer's logprobs of that version).

Exact in meaning across kill -9: the data cursor is the step; a checkpoint after step k also
holds the curriculum levels with which steps k+1.. k+s were drawn, so a resumed run trains
every step's prompts once, drawn as the unkilled run drew them (its samples come from the
restored version, fresher than the lost ones: continuation is not bit-identical, by design).

A sampler that raises, dies or produces nothing for `faults.rollout_timeout_s` ends the
run with a checkpoint of the last completed step and one line saying what happened.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from data_gen.core import hashed_seed
from rewards.types import Problem, Rollout
from rlhf.algos import ADVANTAGES, fold_kl_into_rewards
from rlhf.config.recipe import RunConfig
from rlhf.data.batch import build_batch
from rlhf.data.problems import encode_prompts
from rlhf.rollout.async_process import ProcessSampler
from rlhf.rollout.async_sampler import Job, Result, SamplerFailure, ThreadedSampler
from rlhf.rollout.base import Completion, SamplingParams
from rlhf.runtime import distributed as dist
from rlhf.runtime import killpoints
from rlhf.runtime.rundir import RunDir
from rlhf.trainers.rl import common as rc
from rlhf.trainers.rl import report as report
from rlhf.trainers.rl import step as steps


class RolloutFailure(ValueError):
    """The sampler died, stalled or failed; a checkpoint was written. A ValueError so `cotrl` prints one line."""


def check(cfg: RunConfig) -> None:
    """Refuse settings the asynchronous loop cannot honour, naming the key."""
    if cfg.algo.tis_cap is None:
        raise ValueError(
            "train.async.enabled needs algo.tis_cap (e.g. 2.0): samples come from an older policy "
            "and the loss must correct for it with the sampler's logprobs"
        )
    if cfg.train.dynamic_sampling:
        raise ValueError(
            "train.async.enabled does not support train.dynamic_sampling (refills are synchronous)"
        )
    if cfg.rollout.backend not in ("transformers", "auto"):
        raise ValueError(
            f"train.async.enabled samples with the transformers backend in its own process or thread; rollout.backend={cfg.rollout.backend!r}"
        )


def thread_split(cfg: RunConfig, trainer_threads: int) -> tuple[int, int]:
    """(trainer, sampler) intra-op threads. `auto` shares the cores the trainer was given out
    between the two (on 2 cores: one each); an explicit count is used by both."""
    if cfg.train.cpu_threads != "auto" or trainer_threads <= 1:
        return trainer_threads, trainer_threads
    trainer = max(1, trainer_threads // 2)
    return trainer, max(1, trainer_threads - trainer)


@dataclass(frozen=True)
class Draw:
    """One step's problems as drawn, the prompts sent to the sampler, and the curriculum levels used."""

    problems: list[Problem]
    prompts: list[list[int]]
    levels: dict[str, int] | None


class Pipeline:
    """The trainer's side of the sampler: draws, submissions, versions, checkpoint state."""

    def __init__(self, rl: rc.RL, threads: int) -> None:
        self.rl = rl
        self.ahead = rl.cfg.train.async_.max_staleness
        kind = ProcessSampler if rl.cfg.train.async_.sampler == "process" else ThreadedSampler
        self.sampler = kind(
            rl.unwrapped,
            rl.policy.tokenizer,
            batch_size=rl.cfg.rollout.batch_size,
            threads=threads,
            tolerance=rl.cfg.vllm.probe_tolerance,
        )
        self.draws: dict[int, Draw] = {}
        restored = rl.extra.get("resumed_state", {}).get("async_draw_levels", {})
        self._restored: dict[int, dict[str, int] | None] = {int(k): v for k, v in restored.items()}
        rl.extra["checkpoint_state"] = self.checkpoint_state

    def start(self, first: int) -> None:
        """Publish the first version and submit the first `ahead` steps with it."""
        self.sampler.publish(self.rl.unwrapped, first)
        for j in range(first, min(first + self.ahead, self.rl.cfg.train.steps)):
            self.submit(j, first)

    def submit(self, step: int, version: int) -> None:
        levels = self._restored.pop(step) if step in self._restored else self.rl.curriculum.current()
        problems = self.rl.source.problems(step, levels, 0)
        prompts = encode_prompts(self.rl.policy.tokenizer, problems, self.rl.cfg.data.system_prompt)
        self.draws[step] = Draw(problems, prompts, dict(levels) if levels is not None else None)
        self.sampler.submit(Job(step, version, prompts, sampling_params(self.rl, step)))

    def take(self, step: int) -> tuple[Draw, Result]:
        """Step `step`'s draw and completions; on a sampler fault, checkpoint and stop."""
        timeout = self.rl.cfg.faults.rollout_timeout_s
        try:
            result = self.sampler.take(step, timeout)
        except (
            Exception
        ) as exc:  # SamplerFailure (died, stalled, failed), or a thread's own error (WeightSyncError)
            reason = (
                exc.reason
                if isinstance(exc, SamplerFailure)
                else f"the rollout sampler thread failed ({type(exc).__name__}: {exc})"
            )
            raise self.failure(step, reason) from exc
        return self.draws[step], result

    def failure(self, step: int, reason: str) -> RolloutFailure:
        where = "none written (no step completed)"
        if step > 0:
            rc.save(self.rl, step - 1)
            where = f"{self.rl.run_dir.checkpoints} (after step {step - 1}; --resume reruns step {step})"
        return RolloutFailure(  # `cotrl train` prints it as its one error line, exit status 2
            f"stopped at step {step}: {reason} (faults.rollout_timeout_s="
            f"{self.rl.cfg.faults.rollout_timeout_s:g}); checkpoint: {where}"
        )

    def publish(self, version: int) -> None:
        self.sampler.publish(self.rl.unwrapped, version)
        for j in [j for j in self.draws if j < version - 1]:
            del self.draws[j]

    def checkpoint_state(self, saved_step: int) -> dict[str, Any]:
        """The levels of the steps already drawn but not trained when step `saved_step` is saved."""
        return {"async_draw_levels": {str(j): d.levels for j, d in self.draws.items() if j > saved_step}}

    def close(self) -> None:
        self.sampler.close()


def sampling_params(rl: rc.RL, step: int) -> SamplingParams:
    """The synchronous loop's parameters for round 0 of `step` (same seed: same samples from the same weights)."""
    r = rl.cfg.rollout
    seed = dist.rank_seed(hashed_seed(rl.cfg.run.seed, "rollout", step, 0) % (2**31), rl.accelerator)
    return SamplingParams(
        n=r.n,
        max_new_tokens=r.max_new_tokens,
        temperature=r.temperature,
        top_p=r.top_p,
        stop=r.stop,
        seed=seed,
    )


def to_rollouts(
    problems: list[Problem], prompts: list[list[int]], out: list[list[Completion]]
) -> list[Rollout]:
    return [
        Rollout(
            problem_id=p.id,
            group=gi,
            prompt_ids=tuple(prompt),
            completion_ids=c.token_ids,
            sampler_logprobs=c.logprobs,
            text=c.text,
            finish_reason=c.finish_reason,
        )
        for gi, (p, prompt, comps) in enumerate(zip(problems, prompts, out))
        for c in comps
    ]


def stale(versions: list[int], trainer_version: int, max_staleness: int) -> list[bool]:
    """Per sample: is it more than `max_staleness` policy versions behind the trainer?"""
    return [trainer_version - v > max_staleness for v in versions]


def prompts_digest(problems: list[Problem]) -> str:
    """A short hash of the step's problem ids, in order (the resume tests compare it per step)."""
    return hashlib.sha256("\n".join(p.id for p in problems).encode()).hexdigest()[:12]


def collect(rl: rc.RL, step: int, draw: Draw, res: Result) -> tuple[rc.Collected, dict[str, Any]]:
    """Score step `step`'s completions (resampled first if too stale) and batch them."""
    rollouts = to_rollouts(draw.problems, draw.prompts, res.completions)
    versions = [res.version] * len(rollouts)
    drop = stale(versions, step, rl.cfg.train.async_.max_staleness)
    info: dict[str, Any] = {"async_dropped": float(sum(drop)), "time_rollout": res.finished - res.started}
    if any(drop):  # a group must not mix versions: resample the whole step with the current weights
        t0 = time.perf_counter()
        rollouts = rc.generate(rl, draw.problems, step, 0)
        versions = [step] * len(rollouts)
        info["time_rollout"] += time.perf_counter() - t0
    info.update(
        policy_version=float(min(versions)),
        staleness_mean=sum(step - v for v in versions) / len(versions),
        staleness_max=float(max(step - v for v in versions)),
        prompts_digest=prompts_digest(draw.problems),
    )
    if res.probe is not None:
        info["sync_probe_max_abs_diff"] = res.probe.max_abs_diff
    per_rollout = [draw.problems[r.group] for r in rollouts]
    t0 = time.perf_counter()
    scored = rl.scorer(per_rollout, rollouts)
    killpoints.reached("reward", step)
    tokens = sum(len(r.completion_ids) for r in rollouts)
    metrics: dict[str, float] = {**scored.metrics, **rc.response_stats(rollouts)}
    metrics.update(
        zero_variance_frac=len(rc.flat_groups(scored.rollouts)) / max(len(draw.problems), 1),
        time_reward=time.perf_counter() - t0,
        rollout_tokens=tokens,
        tokens_per_second_rollout=tokens / info["time_rollout"] if info["time_rollout"] else float("nan"),
    )
    metrics.update(rc.reward_faults(rl, step, metrics))
    kept = scored.rollouts
    if not any(r.outcome is not None or any(s.score is not None for s in r.steps) for r in kept):
        why = rc.unverifiable(rl, step, scored.none_reason)
        col = rc.Collected(per_rollout, kept, None, metrics, scored.correct, "all rewards unverifiable", why)
        return col, info
    batch = build_batch(kept, rl.policy.tokenizer.pad_token_id).to(rl.accelerator.device)
    return rc.Collected(per_rollout, kept, batch, metrics, scored.correct), info


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    check(cfg)
    rl = rc.setup(cfg, run_dir)
    if rl.accelerator.num_processes > 1:
        raise ValueError("train.async.enabled runs in one process (got several from accelerate launch)")
    rl.extra["old_in_update"] = True  # pi_old from the update's forward when there is one update per batch
    if run_dir.resume:
        rc.resume(rl)
    trainer_threads, sampler_threads = thread_split(cfg, torch.get_num_threads())
    torch.set_num_threads(trainer_threads)
    print(
        f"cotrl: train.async: sampler {cfg.train.async_.sampler} {cfg.train.async_.max_staleness} step(s) ahead; "
        f"{trainer_threads} trainer / {sampler_threads} sampler intra-op thread(s)",
        file=sys.stderr,
    )
    advantage_fn = ADVANTAGES.get(cfg.algo.advantage)
    info = ADVANTAGES.info(cfg.algo.advantage)
    ahead = cfg.train.async_.max_staleness
    pipe = Pipeline(rl, sampler_threads)
    last: dict[str, Any] = {}
    try:
        with report.progress(cfg.train.steps, rl.step, "grpo") as bar:
            pipe.start(rl.step)
            for step in range(rl.step, cfg.train.steps):
                t_start = time.perf_counter()
                record: dict[str, Any] = {"step": step}
                if step + ahead < cfg.train.steps:
                    pipe.submit(step + ahead, step)  # drawn now, sampled with this step's weights
                draw, res = pipe.take(step)
                t_ready = time.perf_counter()
                record["time_wait_rollout"] = t_ready - t_start
                col, meta = collect(rl, step, draw, res)
                record.update(meta)
                if col.batch is None:
                    pipe.publish(step + 1)  # unchanged weights, the next version all the same
                    steps.skip_step(rl, step, record, col, t_start, bar)
                    continue
                record.update(col.metrics)
                batch = rc.fill_logprobs(
                    rl, col.batch
                )  # pi_old: this policy; sampler logprobs: version res.version
                if cfg.algo.kl_in_reward:
                    batch, _ = fold_kl_into_rewards(batch, cfg.algo)
                advantages = advantage_fn(batch, cfg.algo)
                record.update(report.batch_metrics(batch, advantages, cfg.algo, info))
                t_update = time.perf_counter()
                stats = rc.policy_update(rl, batch, advantages, step)
                t_done = time.perf_counter()
                record.update(stats, time_update=t_done - t_update)
                record["kl"] = stats.get("kl_ref", record.get("kl"))
                record["overlap_frac"] = pipe.sampler.busy_seconds(t_ready, t_done) / (t_done - t_start)
                pipe.publish(step + 1)
                last = steps.finish_step(rl, step, record, col, stats, t_start, bar)
    finally:
        pipe.close()
    steps.save_last(rl)
    return {
        **report.finish(rl),
        "steps": cfg.train.steps,
        "final": {k: last.get(k) for k in ("reward_mean", "accuracy", "kl")},
    }
