"""PPO with a learned critic, for outcome and per-step (process) rewards.

Same loop as GRPO (see grpo.py) with two differences:
- A critic (`rlhf.models.policy.ValueModel`: the policy's architecture with a scalar head, a
  separate network so value gradients never touch the policy) predicts, for every
  response token, the return from the state before it. Advantages come from the
  estimator named by `algo.advantage`, which must read those values (its `EstimatorInfo`
  says so; `gae`: per-token TD residuals over the token rewards, which is where step
  scores pay off: a good step is credited at its own token, not only through the final
  outcome). The recipe checks refuse an estimator that would leave the critic unread.
  The critic learns GAE's returns A + V (`rlhf.algos.critic_returns`), the values that
  estimator measures its advantages against.
- The critic trains alongside the policy on the same micro-batches with PPO's clipped
  value loss (`algo.value_coef`, `algo.value_clip`), with its own AdamW (`train.value_lr`, no
  schedule), clipped together with the policy and skipped with it on a non-finite loss.
  PPO reuses each batch for `train.ppo_epochs` x `train.mini_batches` optimizer steps, so
  pi_old and the old values are computed once, before the first update.
The final policy goes where GRPO's does (`adapter/` or `model/`); the critic's final weights
go to the run directory's `critic.pt` (`RunDir.critic_path`), outside the policy's directory.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from rlhf.algos import ADVANTAGES, critic_returns, fold_kl_into_rewards, value_loss
from rlhf.config.reads import Reads, keys_of
from rlhf.config.recipe import AlgoSection, RunConfig, RunSection, TrainSection
from rlhf.models.policy import load_value_model
from rlhf.runtime import optim
from rlhf.runtime.rundir import RunDir
from rlhf.runtime.sharding import full_state_dict
from rlhf.trainers.rl import common as rc
from rlhf.trainers.rl import report as report
from rlhf.trainers.rl import step as steps
from rlhf.trainers.rl.grpo import RL_SECTIONS

READS = Reads(  # what a ppo recipe may set; anything else is refused before the run starts
    sections=RL_SECTIONS,
    keys={
        "run": keys_of(RunSection, without=("log_every",)),  # every step is logged
        "train": keys_of(TrainSection, without=("async",)),  # asynchronous rollouts: grpo only
        "algo": keys_of(AlgoSection),
    },
)


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    rl = rc.setup(cfg, run_dir)  # also checks the estimator against this trainer (rlhf.trainers.checks)
    critic = load_value_model(cfg, rl.policy.model_path)
    critic_params = [p for p in critic.parameters() if p.requires_grad]
    critic_wd = 0.01  # torch AdamW's default, which the critic has always had
    critic_opt = optim.adamw(critic_params, cfg.train.value_lr, weight_decay=critic_wd)
    critic, critic_opt = rl.accelerator.prepare(critic, critic_opt)
    rl.critic = rc.Critic(model=critic, optimizer=critic_opt)
    if run_dir.resume:
        rc.resume(rl)
    advantage_fn = ADVANTAGES.get(cfg.algo.advantage)
    info = ADVANTAGES.info(cfg.algo.advantage)  # None: user code that does not describe itself
    last: dict[str, Any] = {}
    with report.progress(cfg.train.steps, rl.step, "ppo") as bar:
        for step in range(rl.step, cfg.train.steps):
            t_start = time.perf_counter()
            record: dict[str, Any] = {"step": step}

            col = rc.collect(rl, step)  # sample and score
            if col.batch is None:
                steps.skip_step(rl, step, record, col, t_start, bar)
                continue
            record.update(col.metrics)

            batch = rc.fill_logprobs(rl, col.batch)  # pi_old and reference logprobs
            with torch.no_grad():
                batch.values = critic(batch.input_ids, batch.attention_mask)  # [N, T] old values
            if cfg.algo.kl_in_reward:
                batch, _ = fold_kl_into_rewards(batch, cfg.algo)
            advantages = advantage_fn(batch, cfg.algo)  # [N, T]
            col.advantages = advantages
            returns = critic_returns(batch, cfg.algo)  # [N, T] the value loss's target
            record.update(report.batch_metrics(batch, advantages, cfg.algo, info))

            def critic_loss(idx: torch.Tensor, sub: Any) -> tuple[torch.Tensor, dict[str, float]]:
                out = value_loss(critic(sub.input_ids, sub.attention_mask), sub, returns[idx], cfg.algo)  # noqa: B023 (called in this step)
                return out.loss, out.metrics

            t_update = time.perf_counter()
            stats = rc.policy_update(rl, batch, advantages, step, extra_loss=critic_loss)
            record.update(stats, time_update=time.perf_counter() - t_update)
            record["kl"] = stats.get("kl_ref", record.get("kl"))

            last = steps.finish_step(rl, step, record, col, stats, t_start, bar)  # sync, curriculum, log
    steps.save_last(rl)
    result = report.finish(rl)
    critic_state = full_state_dict(rl.accelerator.unwrap_model(critic))  # sharded: every process gathers
    if rl.accelerator.is_main_process:
        torch.save(critic_state, run_dir.critic_path)
    return {
        **result,
        "steps": cfg.train.steps,
        "final": {k: last.get(k) for k in ("reward_mean", "accuracy", "kl")},
    }
