"""Pieces the GRPO and PPO loops share: set-up, rollouts, the policy update, checkpoints.

The loops themselves (grpo.py, ppo.py) read top to bottom and call these; nothing here
knows which advantage estimator or loss is in use (they come from `rlhf.algos` by name).
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from data_gen.core import hashed_seed
from rewards.types import Problem, Rollout
from rlhf.algos import LOSSES, validate_algo_names
from rlhf.algos.losses import microbatch_scale
from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import RunConfig
from rlhf.data.batch import build_batch
from rlhf.data.curriculum import Curriculum
from rlhf.data.problems import ProblemSource, encode_prompts
from rlhf.models.policy import (
    Policy,
    first_response_column,
    load_policy,
    load_trainable_state_dict,
    reference_logprobs,
    resolve_model_path,
    token_logprobs,
    trainable_state_dict,
)
from rlhf.rollout import SAMPLERS, choose_backend
from rlhf.rollout.base import SamplingParams
from rlhf.rollout.scoring import Scorer
from rlhf.runtime import checkpoint as ckpt
from rlhf.runtime import distributed as dist
from rlhf.runtime import killpoints, sharding
from rlhf.runtime import optim as optim
from rlhf.runtime import sharded_checkpoint as shards
from rlhf.runtime.metrics import MetricsLog, truncate_jsonl
from rlhf.runtime.rundir import RunDir
from rlhf.runtime.threads import apply_threads
from rlhf.trainers.checks import check_estimator
from rlhf.trainers.rl.faults import explain_oom


@dataclass
class Critic:
    """PPO's value model and its AdamW (prepared by accelerate; checkpointed as critic, critic_optimizer)."""

    model: nn.Module
    optimizer: Any


@dataclass
class RL:
    """Everything a loop holds. `step` is the next step to run (the data cursor)."""

    cfg: RunConfig
    run_dir: RunDir
    accelerator: Any
    policy: Policy
    model: nn.Module  # prepared by accelerate
    optimizer: Any
    scheduler: Any
    sampler: Any
    backend: str
    scorer: Scorer
    source: ProblemSource
    curriculum: Curriculum
    log: MetricsLog
    bad: optim.BadSteps  # steps in a row skipped for a non-finite loss (train.max_bad_steps)
    step: int = 0
    critic: Critic | None = None  # PPO's critic; None under GRPO
    extra: dict[str, Any] = field(default_factory=dict)  # loop state outside the checkpoint (fault streaks)

    @property
    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)


def need_reference(cfg: RunConfig) -> bool:
    return cfg.algo.kl_coef > 0


def optimizer_steps_per_rl_step(cfg: RunConfig) -> int:
    return cfg.train.ppo_epochs * cfg.train.mini_batches


def setup(cfg: RunConfig, run_dir: RunDir) -> RL:
    """Validate, seed, load model/data/rewards/sampler, build optimizer+schedule, restore a checkpoint."""
    from accelerate.utils import set_seed

    validate_algo_names(cfg.algo)
    check_estimator(cfg, import_user_code=True)  # user code's own EstimatorInfo, before any model loads
    set_seed(cfg.run.seed)
    torch.use_deterministic_algorithms(False)
    device = cfg.run.device
    accelerator = dist.new_accelerator(device, cfg.train.mixed_precision)
    if accelerator.num_processes > 1 and cfg.train.dynamic_sampling:
        raise ValueError(
            "train.dynamic_sampling is single-process only (processes would refill different amounts)"
        )
    source = ProblemSource(cfg.data, cfg.run.seed)
    with accelerator.main_process_first():  # the main process builds a tiny model; the others then load it
        model_path = resolve_model_path(
            cfg, run_dir.root, source.sample_texts() if cfg.model.path == "tiny" else None
        )
    policy = load_policy(cfg, model_path, need_reference=need_reference(cfg))
    apply_threads(cfg.train.cpu_threads, policy.model)  # auto: by the model's size
    scorer = Scorer(
        cfg.rewards,
        policy.tokenizer,
        cfg.reward_options.mask,
        cfg.reward_options.math_workers,
        timeout_s=cfg.faults.reward_timeout_s,
    )
    optimizer = optim.build_optimizer(policy.model.parameters(), cfg.train)
    scheduler = optim.build_scheduler(
        optimizer, cfg.train, cfg.train.steps * optimizer_steps_per_rl_step(cfg)
    )
    sharding.check_before_prepare(accelerator, policy.model, cfg.lora.enabled, choose_backend(cfg))
    model, optimizer, scheduler = accelerator.prepare(policy.model, optimizer, scheduler)
    if policy.ref_model is not None:
        policy.ref_model.to(accelerator.device)
    backend = choose_backend(cfg)
    sampler_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, path=model_path))
    sampler = SAMPLERS.get(backend)(accelerator.unwrap_model(model), policy.tokenizer, sampler_cfg)
    print(
        f"cotrl: rollout backend {backend}"
        + (" (chosen by rollout.backend=auto)" if cfg.rollout.backend == "auto" else ""),
        file=sys.stderr,
    )
    rl = RL(
        cfg=cfg,
        run_dir=run_dir,
        accelerator=accelerator,
        policy=policy,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        sampler=sampler,
        backend=backend,
        scorer=scorer,
        source=source,
        curriculum=Curriculum.start(cfg.data.curriculum, source.task_names),
        bad=optim.BadSteps(cfg.train.max_bad_steps),
        log=MetricsLog(run_dir.metrics_path, cfg.run.report_to)
        if accelerator.is_main_process
        else dist.NullLog(),
    )
    return rl


# ----------------------------------------------------------------------------- rollouts


@dataclass
class Collected:
    problems: list[Problem]  # one per rollout
    rollouts: list[Rollout]
    batch: RolloutBatch | None  # None: nothing to learn from this step (see skip_reason)
    metrics: dict[str, float]
    correct: list[bool]
    skip_reason: str | None = None
    skip_detail: str | None = None  # why, in words (which reward gave None for the batch, and why)
    advantages: torch.Tensor | None = None  # [N, T], set by the loop: samples.jsonl shows each step's


def collect(rl: RL, step: int) -> Collected:
    """Sample, score and batch this step's rollouts; `batch` is None when every reward is
    unverifiable (or, with dynamic sampling, every group stayed flat).

    With `train.dynamic_sampling`, groups whose outcomes are all equal are dropped and
    more prompts are drawn (up to `train.max_resample_rounds` times) to refill the batch.
    """
    cfg = rl.cfg
    t_gen = t_score = 0.0
    kept_p: list[Problem] = []
    kept_r: list[Rollout] = []
    kept_c: list[bool] = []
    metrics: dict[str, float] = {}
    zero_groups = total_groups = gen_tokens = 0
    none_reason: str | None = None
    rounds = cfg.train.max_resample_rounds + 1 if cfg.train.dynamic_sampling else 1
    for rnd in range(rounds):
        problems = rl.source.problems(step, rl.curriculum.current(), rnd)
        t0 = time.perf_counter()
        offset = max(r.group for r in kept_r) + 1 if kept_r else 0
        rollouts = generate(rl, problems, step, rnd, group_offset=offset)
        t_gen += time.perf_counter() - t0
        gen_tokens += sum(len(r.completion_ids) for r in rollouts)
        per_rollout = [problems[r.group - offset] for r in rollouts]
        t0 = time.perf_counter()
        scored = rl.scorer(per_rollout, rollouts)
        none_reason = none_reason or scored.none_reason
        killpoints.reached("reward", step)
        t_score += time.perf_counter() - t0
        if rnd == 0:
            metrics.update(scored.metrics)
            metrics.update(response_stats(rollouts))
        flat = flat_groups(scored.rollouts)
        zero_groups += len(flat)
        total_groups += len(problems)
        keep = (
            [r.group not in flat for r in scored.rollouts]
            if cfg.train.dynamic_sampling
            else [True] * len(rollouts)
        )
        kept_p += [p for p, k in zip(per_rollout, keep) if k]
        kept_r += [r for r, k in zip(scored.rollouts, keep) if k]
        kept_c += [c for c, k in zip(scored.correct, keep) if k]
        if len({r.group for r in kept_r}) >= cfg.data.prompts_per_step:
            break
    metrics.update(
        zero_variance_frac=zero_groups / max(total_groups, 1),
        resample_rounds=rnd,
        time_rollout=t_gen,
        time_reward=t_score,
        rollout_tokens=gen_tokens,
        tokens_per_second_rollout=gen_tokens / t_gen if t_gen else float("nan"),
    )
    metrics.update(reward_faults(rl, step, metrics))
    metrics.update(dist.rollout_digests(rl.accelerator, kept_r))
    if not dist.all_true(rl.accelerator, bool(kept_r)):
        return Collected(
            kept_p, kept_r, None, metrics, kept_c, "every group had equal rewards (dynamic sampling)"
        )
    if not dist.all_true(
        rl.accelerator,
        any(r.outcome is not None or any(s.score is not None for s in r.steps) for r in kept_r),
    ):
        why = unverifiable(rl, step, none_reason)
        return Collected(kept_p, kept_r, None, metrics, kept_c, "all rewards unverifiable", why)
    batch = build_batch(kept_r, rl.policy.tokenizer.pad_token_id).to(rl.accelerator.device)
    return Collected(kept_p, kept_r, batch, metrics, kept_c)


def unverifiable(rl: RL, step: int, reason: str | None) -> str | None:
    """Warn (on stderr, once per reason) that a batch had no verifiable reward; returns the reason."""
    text = "all rewards unverifiable" + (f" ({reason})" if reason else "")
    warned = rl.extra.setdefault("warned_unverifiable", set())
    if reason not in warned:
        warned.add(reason)
        print(f"cotrl: warning: step {step}: {text}; the update is skipped", file=sys.stderr)
    return reason


def flat_groups(rollouts: list[Rollout]) -> set[int]:
    """Groups with nothing to compare: outcomes all equal (or none verifiable) and step scores all equal.

    Outcome flatness is `rlhf.algos.zero_variance_groups`; step scores are also consulted so
    process-supervised runs keep groups whose steps differ even when their answers agree.
    """
    from rlhf.algos import zero_variance_groups

    o = torch.tensor([r.outcome if r.outcome is not None else 0.0 for r in rollouts])
    m = torch.tensor([float(r.outcome is not None) for r in rollouts])
    g = torch.tensor([r.group for r in rollouts])
    rows = zero_variance_groups(o, m, g).rows.tolist()
    flat = {r.group for r, f in zip(rollouts, rows) if f}
    step_scores: dict[int, set[float]] = {}
    for r in rollouts:
        step_scores.setdefault(r.group, set()).update(s.score for s in r.steps if s.score is not None)
    return {grp for grp in flat if len(step_scores.get(grp, ())) <= 1}


def generate(rl: RL, problems: list[Problem], step: int, rnd: int, group_offset: int = 0) -> list[Rollout]:
    cfg = rl.cfg
    prompts = encode_prompts(rl.policy.tokenizer, problems, cfg.data.system_prompt)
    params = SamplingParams(
        n=cfg.rollout.n,
        max_new_tokens=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        stop=cfg.rollout.stop,
        seed=dist.loop_seed(hashed_seed(cfg.run.seed, "rollout", step, rnd) % (2**31), rl),
    )
    out = rl.sampler.generate(prompts, params)
    killpoints.reached("rollout", step)
    rollouts = []
    for gi, (problem, prompt, comps) in enumerate(zip(problems, prompts, out)):
        for c in comps:
            rollouts.append(
                Rollout(
                    problem_id=problem.id,
                    group=group_offset + gi,
                    prompt_ids=tuple(prompt),
                    completion_ids=c.token_ids,
                    sampler_logprobs=c.logprobs,
                    text=c.text,
                    finish_reason=c.finish_reason,
                )
            )
    return rollouts


def response_stats(rollouts: list[Rollout]) -> dict[str, float]:
    lens = [len(r.completion_ids) for r in rollouts]
    return {
        "response_len_mean": sum(lens) / len(lens),
        "response_len_max": float(max(lens)),
        "truncated_frac": sum(r.finish_reason == "length" for r in rollouts) / len(rollouts),
    }


def group_pass_rates(col: Collected) -> list[tuple[str, float]]:
    groups: dict[int, list[bool]] = {}
    tasks: dict[int, str] = {}
    for p, r, c in zip(col.problems, col.rollouts, col.correct):
        groups.setdefault(r.group, []).append(c)
        tasks[r.group] = p.task
    return [(tasks[g], sum(v) / len(v)) for g, v in groups.items()]


# ----------------------------------------------------------------------------- update


def separate_old(rl: RL) -> bool:
    """pi_old needs its own forward: several updates per batch, or TIS, unless a loop with one
    update per batch takes it from the update's own forward (`rl.extra["old_in_update"]`, async)."""
    if optimizer_steps_per_rl_step(rl.cfg) > 1:
        return True
    return rl.cfg.algo.tis_cap is not None and not rl.extra.get("old_in_update", False)


@explain_oom("the pi_old/reference forward")
@torch.no_grad()
def fill_logprobs(rl: RL, batch: RolloutBatch) -> RolloutBatch:
    """old_logprobs from the trainer (needed when the batch is reused for several updates)
    and ref_logprobs (KL, or always under LoRA where the reference costs only a forward)."""
    temp = rl.cfg.rollout.temperature
    start = first_response_column(batch.response_mask)
    if separate_old(rl):
        batch.old_logprobs = token_logprobs(
            rl.model, batch.input_ids, batch.attention_mask, temp, start=start
        )[0]
    if need_reference(rl.cfg) or rl.policy.lora:
        batch.ref_logprobs = reference_logprobs(
            rl.policy, rl.unwrapped, batch.input_ids, batch.attention_mask, temp, start=start
        )
    return batch


@explain_oom("the policy update")
def policy_update(
    rl: RL, batch: RolloutBatch, advantages: torch.Tensor, step: int, extra_loss=None
) -> dict[str, float]:
    """ppo_epochs x mini_batches optimizer steps over the batch, micro-batched with gradient accumulation.

    When old logprobs were not computed separately (one optimizer step per batch), the
    current policy's detached logprobs serve as pi_old: the ratio is exactly 1 in value and
    the gradient is the policy gradient. A non-finite loss or gradient skips the optimizer step.
    `extra_loss(rows, batch_rows) -> (loss, metrics)` adds a term (the PPO critic).
    """
    cfg = rl.cfg
    loss_fn = LOSSES.get(cfg.algo.loss)
    n = batch.num_rollouts
    reuse_old = separate_old(rl)
    want_entropy_grad = cfg.algo.entropy_coef > 0
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    skipped = 0
    rng = random.Random(hashed_seed(cfg.run.seed, "minibatch", step))
    for _ in range(cfg.train.ppo_epochs):
        order = list(range(n))
        rng.shuffle(order)
        mb_size = math.ceil(n / cfg.train.mini_batches)
        for start in range(0, n, mb_size):
            rows = order[start : start + mb_size]
            micro = cfg.train.micro_batch_size or len(rows)
            mini_mask = batch.response_mask[torch.tensor(rows, device=batch.input_ids.device)]
            finite = True
            for k in range(0, len(rows), micro):
                idx = torch.tensor(rows[k : k + micro], device=batch.input_ids.device)
                sub = batch.select(idx)
                with rl.accelerator.autocast():
                    lp, ent = token_logprobs(
                        rl.model,
                        sub.input_ids,
                        sub.attention_mask,
                        cfg.rollout.temperature,
                        with_entropy=True,
                        entropy_grad=want_entropy_grad,
                        start=first_response_column(sub.response_mask),
                    )
                    if not reuse_old:
                        sub.old_logprobs = lp.detach()
                    out = loss_fn(lp, sub, advantages[idx], cfg.algo, entropy=ent)
                    loss = out.loss
                    metrics = dict(out.metrics)
                    if extra_loss is not None:
                        extra, extra_metrics = extra_loss(idx, sub)
                        loss = loss + extra
                        metrics.update(extra_metrics)
                if not dist.all_true(rl.accelerator, bool(torch.isfinite(loss))):
                    finite = False
                    break
                # scaled so the accumulated gradient equals the whole mini-batch's under every aggregation
                rl.accelerator.backward(loss * microbatch_scale(sub.response_mask, mini_mask, cfg.algo.agg))
                for key, v in metrics.items():
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        sums[key] = sums.get(key, 0.0) + v
                        counts[key] = counts.get(key, 0) + 1
            done = optim.update(  # clip, then step (or skip on a non-finite loss or gradient)
                [rl.optimizer, *([rl.critic.optimizer] if rl.critic is not None else [])],
                rl.scheduler,
                _trainable(rl),
                cfg.train.max_grad_norm,
                step=step,
                loss_finite=finite,
                clip_fn=rl.accelerator.clip_grad_norm_,
            )
            if done.applied:
                sums["grad_norm"] = sums.get("grad_norm", 0.0) + done.grad_norm
                counts["grad_norm"] = counts.get("grad_norm", 0) + 1
            else:
                skipped += 1
    out = {k: sums[k] / counts[k] for k in sums}
    out["skipped_updates"] = float(skipped)
    out["lr"] = float(rl.scheduler.get_last_lr()[0])
    return out


def _trainable(rl: RL) -> list[torch.Tensor]:
    params = [p for p in rl.model.parameters() if p.requires_grad]
    if rl.critic is not None:
        params += [p for p in rl.critic.model.parameters() if p.requires_grad]
    return params


# ----------------------------------------------------------------------------- checkpoints


def save(rl: RL, step: int) -> None:
    """Checkpoint after `step` completed; a resumed run starts at step + 1."""
    objects = {
        "trainable": trainable_state_dict(rl.unwrapped),
        "optimizer": rl.optimizer.state_dict(),
        "scheduler": rl.scheduler.state_dict(),
    }
    if rl.critic is not None:
        objects["critic"] = trainable_state_dict(rl.critic.model)
        objects["critic_optimizer"] = rl.critic.optimizer.state_dict()
    if reward_state := rl.scorer.state_dict():  # step rewards that learn online (implicit_prm)
        objects["reward_state"] = reward_state
    state = {"data_cursor": step + 1, "curriculum": rl.curriculum.state_dict(), "bad_steps": rl.bad.in_a_row}
    if "checkpoint_state" in rl.extra:  # a loop's own state (train.async: the draws of steps in flight)
        state.update(rl.extra["checkpoint_state"](step))
    shards.save_loop(rl, step, objects, state)  # the main process alone, or every process's shards (FSDP2)


def resume(rl: RL) -> None:
    """Load the newest complete checkpoint and drop log lines written after it."""
    path = ckpt.latest_checkpoint(rl.run_dir.checkpoints)
    if path is None:
        print("cotrl: --resume found no checkpoint; starting from step 0", file=sys.stderr)
        _truncate_logs(rl, -1)
        return
    objects, state = shards.load_loop(rl, path, load_trainable_state_dict)  # weights and optimizers
    planned = dataclasses.replace(optim.schedule_of(rl.scheduler))
    rl.scheduler.load_state_dict(objects["scheduler"])
    optim.schedule_of(rl.scheduler).stretch(planned)  # an extended run (train.steps raised)
    rl.curriculum.load_state_dict(state["curriculum"])
    rl.scorer.load_state_dict(objects.get("reward_state", {}))  # step rewards that learn online, if any
    rl.bad.in_a_row = int(state["bad_steps"])
    rl.step = int(state["data_cursor"])
    rl.extra["resumed_state"] = state
    ckpt.restore_rng(path)
    rl.sampler.sync_weights(rl.unwrapped)
    _truncate_logs(rl, rl.step - 1)
    print(f"cotrl: resumed from {path} (next step {rl.step})", file=sys.stderr)


def _truncate_logs(rl: RL, step: int) -> None:
    if rl.accelerator.is_main_process:
        truncate_jsonl(rl.run_dir.metrics_path, step)
        truncate_jsonl(rl.run_dir.samples_path, step)


def reward_faults(rl: RL, step: int, metrics: dict[str, float]) -> dict[str, float]:
    """Count steps in a row where rewards failed (crash, hang, garbage) for most of the batch;
    after `faults.max_reward_fail_steps` of them, stop with a checkpoint of the last good step."""
    from rlhf.trainers.rl.faults import reward_fail_streak

    return reward_fail_streak(rl, step, metrics, save)
