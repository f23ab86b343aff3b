"""GRPO: group-relative policy optimisation with outcome and per-step (process) rewards.

One step, top to bottom:
1. Draw `data.prompts_per_step` problems (a pure function of seed, step and curriculum
   levels: the data cursor is the step number) and sample `rollout.n` completions each.
   The n completions of a problem form its group.
2. Score them: outcome rewards on the whole text, step rewards on the segmented steps.
   Both land on one token-level reward tensor (a step's score on its last token, the
   outcome on the last token); None rewards are masked, never 0. A batch with no
   verifiable reward at all is skipped and logged. With `train.dynamic_sampling`, groups
   whose outcomes are all equal carry no signal and are replaced by freshly drawn ones.
3. Logprobs: the sampler's own logprobs come with the rollouts; a separate pi_old forward
   is run only when the batch is reused for several optimizer steps (otherwise the current
   policy's detached logprobs are pi_old, exactly). The reference is the policy with its
   LoRA adapter disabled, or a frozen copy under full finetuning when `algo.kl_coef` > 0.
4. Advantages from the estimator named by `algo.advantage` (any registered one that reads
   no critic values: see `rlhf.algos.ADVANTAGES.infos()`), a pure function of the batch;
   KL optionally folded into rewards.
5. The loss named by `algo.loss` (clipped surrogate; GSPO), micro-batched with gradient
   accumulation, then one update per mini-batch through the shared runtime (`rlhf.runtime.optim`:
   AdamW, warmup + cosine to `train.min_lr_ratio`, clipping at `train.max_grad_norm`). A non-finite
   loss or gradient skips the update; `train.max_bad_steps` steps in a row with every update
   skipped stop the run with a checkpoint.
6. `sampler.sync_weights(model)` after the update, so the next rollouts use the new policy.
   (With `train.async.enabled` the loop in async_loop.py runs instead: rollouts sampled on a
   thread one or more policy versions behind, overlapping this update.)
7. Curriculum: each task's level moves to keep its group pass rate inside the band.
8. Metrics to metrics.jsonl, a few samples to samples.jsonl, a checkpoint every
   `run.save_every` steps. At the end: the adapter in `adapter/` (LoRA) or the model in
   `model/` (full finetune), and plots.
"""

from __future__ import annotations

import time
from typing import Any

from rlhf.algos import ADVANTAGES, fold_kl_into_rewards
from rlhf.config.reads import Reads, keys_of
from rlhf.config.recipe import AlgoSection, RunConfig, RunSection, TrainSection
from rlhf.runtime.rundir import RunDir
from rlhf.trainers.rl import common as rc
from rlhf.trainers.rl import report as report
from rlhf.trainers.rl import step as steps

RL_SECTIONS = ("model", "tiny", "lora", "rewards", "data", "rollout", "reward_options", "vllm", "faults")
READS = Reads(  # what a grpo recipe may set; anything else is refused before the run starts
    sections=RL_SECTIONS,
    keys={
        "run": keys_of(RunSection, without=("log_every",)),  # every step is logged
        "train": keys_of(TrainSection, without=("value_lr",)),  # no critic
        "algo": keys_of(AlgoSection, without=("value_clip", "value_coef")),
    },
)


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    if cfg.train.async_.enabled:  # rollouts on a sampler thread, overlapping the update
        from rlhf.trainers.rl import async_loop

        return async_loop.run(cfg, run_dir)
    rl = rc.setup(cfg, run_dir)
    if run_dir.resume:
        rc.resume(rl)
    advantage_fn = ADVANTAGES.get(cfg.algo.advantage)
    info = ADVANTAGES.info(cfg.algo.advantage)  # None: user code that does not describe itself
    last: dict[str, Any] = {}
    with report.progress(cfg.train.steps, rl.step, "grpo") as bar:
        for step in range(rl.step, cfg.train.steps):
            t_start = time.perf_counter()
            record: dict[str, Any] = {"step": step}

            col = rc.collect(rl, step)  # 1-2: sample and score
            if col.batch is None:
                steps.skip_step(rl, step, record, col, t_start, bar)
                continue
            record.update(col.metrics)

            batch = rc.fill_logprobs(rl, col.batch)  # 3: pi_old / reference logprobs
            if cfg.algo.kl_in_reward:
                batch, _ = fold_kl_into_rewards(batch, cfg.algo)
            advantages = advantage_fn(batch, cfg.algo)  # 4: [N, T]
            col.advantages = advantages
            record.update(report.batch_metrics(batch, advantages, cfg.algo, info))

            t_update = time.perf_counter()
            stats = rc.policy_update(rl, batch, advantages, step)  # 5: optimizer steps
            record.update(stats, time_update=time.perf_counter() - t_update)
            record["kl"] = stats.get("kl_ref", record.get("kl"))  # null: no reference in this run

            last = steps.finish_step(rl, step, record, col, stats, t_start, bar)  # 6-8: sync, curriculum, log
    steps.save_last(rl)
    return {
        **report.finish(rl),
        "steps": cfg.train.steps,
        "final": {k: last.get(k) for k in ("reward_mean", "accuracy", "kl")},
    }
