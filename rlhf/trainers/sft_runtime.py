"""The SFT trainer on the shared runtime: TRL's loop, the project's optimizer, schedule, clipping and
non-finite-loss policy (`rlhf.runtime.optim`, the same code the RL and PRM loops use).

TRL's SFTTrainer keeps what it does well (chat templates, completion-only loss, gradient
accumulation, its checkpoints and resume). `SharedRuntimeSFTTrainer` overrides the two hooks
transformers documents for this, `create_optimizer` and `create_scheduler`, so the optimizer and
the LR schedule come from `train:` (they are also what transformers saves in, and restores from,
its checkpoints); hooks rather than a ready-made `optimizers=` pair because under FSDP and DeepSpeed
transformers must build the optimizer itself, after wrapping the model.

`UpdateGuard` is the update step: transformers' own clipping is off (`max_grad_norm=0` in the
SFTConfig, so it only measures and logs the norm) and the guard clips at `train.max_grad_norm`
just before the optimizer step. A non-finite gradient (a NaN/inf loss ends there) clears the
gradients, so the optimizer step that follows changes nothing and the schedule does not advance;
after `train.max_bad_steps` such steps in a row the run checkpoints and stops with an error.
(transformers' checkpoints do not carry the count, so a resumed SFT run starts it from 0.)
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import SFTTrainer

from data_gen.writers import honour_umask
from rlhf.config.recipe import TrainSection
from rlhf.runtime import killpoints, optim, sharding
from rlhf.runtime.rundir import RunDir


class SharedRuntimeSFTTrainer(SFTTrainer):
    """SFTTrainer whose optimizer and LR schedule are built by `rlhf.runtime.optim` from `train:`."""

    def __init__(self, *args: Any, train: TrainSection, **kwargs: Any) -> None:
        self.train_cfg = train
        super().__init__(*args, **kwargs)

    def create_accelerator_and_postprocess(self) -> None:
        """transformers' Accelerator, promoted to FSDP2 under an FSDP launch on CPU processes.

        The Trainer builds its own Accelerator, which on CPU (gloo) reports MULTI_CPU and drops the
        launcher's FSDP plugin, so every process would train a replica. `sharding.promote_cpu_fsdp`
        puts the plugin back (as `rlhf.runtime.distributed.new_accelerator` does for the RL loops);
        the Trainer then takes its own FSDP path: the model prepared (sharded) before the optimizer
        is built, FSDP checkpoints, the full state dict gathered when saving. Elsewhere a no-op.
        """
        super().create_accelerator_and_postprocess()
        sharding.promote_cpu_fsdp(self.accelerator)
        self.is_fsdp_enabled = getattr(self.accelerator.state, "fsdp_plugin", None) is not None

    def create_optimizer(self, model: Any = None) -> Any:
        if self.optimizer is None:
            self.optimizer = optim.build_optimizer((model or self.model).parameters(), self.train_cfg)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None:
            opt = optimizer or self.optimizer
            self.lr_scheduler = optim.build_scheduler(opt, self.train_cfg, num_training_steps)
            self._created_lr_scheduler = (
                True  # a second train() call builds a fresh one, as transformers does
            )
        return self.lr_scheduler

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """transformers' checkpoint, then the modes the umask gives (some of its writers leave 0600)."""
        super()._save_checkpoint(model, trial)
        ckpt = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        if ckpt.is_dir():
            honour_umask(ckpt)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """Restore the checkpoint's optimizer and schedule, keeping this run's planned length: a run
        resumed with a larger `sft.max_steps` decays over the new total (as RL's `train.steps` does)."""
        planned = dataclasses.replace(optim.schedule_of(self.lr_scheduler)) if self.lr_scheduler else None
        super()._load_optimizer_and_scheduler(checkpoint)
        if planned is not None and checkpoint is not None:
            optim.schedule_of(self.lr_scheduler).stretch(planned)


class UpdateGuard(TrainerCallback):
    """Clip at `train.max_grad_norm`; skip an update with a non-finite gradient; stop after K in a row."""

    def __init__(self, train: TrainSection, run_dir: RunDir) -> None:
        self.max_grad_norm = train.max_grad_norm
        self.bad = optim.BadSteps(train.max_bad_steps)
        self.run_dir = run_dir
        self.clip_fn: optim.ClipFn | None = None  # the trainer's accelerator.clip_grad_norm_, once it exists
        self.stopped_at: int | None = None

    def on_pre_optimizer_step(self, args, state, control, model=None, lr_scheduler=None, **kwargs):
        step = state.global_step + 1  # the optimizer step about to happen (transformers counts from 1)
        norm = optim.clip_gradients(model.parameters(), self.max_grad_norm, self.clip_fn)
        killpoints.reached("update", step)  # fault tests: die between backward and optimizer step
        finite = math.isfinite(norm)
        stop = self.bad.record(not finite, step)
        if not finite:
            for p in model.parameters():
                p.grad = None  # AdamW skips parameters without a gradient: the step changes nothing
            optim.schedule_of(lr_scheduler).skipped += 1  # transformers steps the schedule anyway
            if state.is_world_process_zero:
                record = {"step": step, "skipped_update": 1, "bad_steps": self.bad.in_a_row}
                self.run_dir.append_jsonl(self.run_dir.metrics_path, record)
        if stop:
            self.stopped_at = step

    def on_step_end(self, args, state, control, **kwargs):
        if self.stopped_at is not None:  # a checkpoint of the last good weights, then stop
            control.should_save = True
            control.should_training_stop = True

    def raise_if_stopped(self) -> None:
        if self.stopped_at is not None:
            raise self.bad.error(self.stopped_at, self.run_dir.checkpoints)
