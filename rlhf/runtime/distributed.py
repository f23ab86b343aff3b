"""What changes when a run is started by `accelerate launch` on several processes.

Data parallelism, the way accelerate does it: every process holds the whole policy, draws
the same step's problems (the data cursor is the step) but samples its own completions
(the rollout seed is hashed with the process index), and DDP/FSDP/DeepSpeed all-reduce the
gradients inside `accelerator.backward`. So the processes' weights stay identical, which
`weights_checksum` lets a run check every step. Files are written by the main process only:
the run directory, metrics, samples, checkpoints and the final model.

Everything here is a no-op on one process, so single-process runs are unchanged.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rlhf.runtime import sharding
from rlhf.runtime.rundir import RunDir


def launched_world_size() -> int:
    """Processes in this run as the launcher (torchrun, accelerate launch) announced them."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def prepare_run_dir_once(cfg: Any, output_dir: str | Path, *, resume: bool, overwrite: bool) -> Any:
    """`rlhf.runtime.rundir.prepare_run_dir` on the main process only; the others wait, then open it.

    Every process calling it would race: the second would find a directory that "already
    holds a run" and refuse it.
    """
    from rlhf.runtime.rundir import prepare_run_dir

    sharding.check_trainer(cfg.trainer)  # before anything is written
    if resume:  # a checkpoint of another layout or world size is refused before anything is written
        sharding.check_resume_layout(RunDir(Path(output_dir)).checkpoints)
    if launched_world_size() <= 1:
        return prepare_run_dir(cfg, output_dir, resume=resume, overwrite=overwrite)
    from accelerate import PartialState

    state = PartialState(cpu=use_cpu(cfg.run.device))
    run_dir = None
    if state.is_main_process:
        run_dir = prepare_run_dir(cfg, output_dir, resume=resume, overwrite=overwrite)
    state.wait_for_everyone()
    return run_dir or SecondaryRunDir(root=Path(output_dir), resume=resume)


def is_main_process() -> bool:
    """Rank 0 as the launcher announced it (true on one process); usable before accelerate starts."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def main_process_first() -> Any:
    """A context where the main process goes first and the others wait (e.g. to build a tiny
    model once and then load it); nothing on one process."""
    if launched_world_size() <= 1:
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


@dataclass(frozen=True)
class Leader:
    """One process acts for all on a shared resource (a vLLM server's weights) while the others wait.

    `wait()` is a barrier: the leader calls it after acting, the others before going on, so
    no process reads the resource before the leader has finished changing it.
    """

    is_leader: bool
    wait: Any  # () -> None


def leader() -> Leader:
    """The main process leads; every process of an `accelerate launch` run waits at the barrier.
    One process: it leads and never waits."""
    if launched_world_size() <= 1:
        return Leader(True, lambda: None)
    from accelerate import PartialState

    state = PartialState()
    return Leader(state.is_main_process, state.wait_for_everyone)


@dataclass(frozen=True)
class SecondaryRunDir(RunDir):
    """The run directory as a non-main process sees it: readable, and the JSON/JSONL writes
    that go through it (metrics, samples, stats) are dropped, so each line is written once."""

    def append_jsonl(self, path: Path, record: dict[str, Any]) -> None:
        pass

    def write_json(self, name: str, data: Any) -> Path:
        return self.root / name


def use_cpu(device: str) -> bool:
    """`run.device` as accelerate's `cpu` flag. `auto` on a machine without CUDA must say cpu:
    otherwise accelerate forms no process group and each process silently trains alone."""
    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def rank_seed(seed: int, accelerator: Any, shared: bool = False) -> int:
    """Per-process sampling seed: unchanged on one process, distinct per process otherwise
    (`shared`: the same on every process, `faults.same_rollouts_every_rank`)."""
    if accelerator.num_processes <= 1 or shared:
        return seed
    from data_gen.core import hashed_seed

    return hashed_seed(seed, "rank", accelerator.process_index) % (2**31)


def loop_seed(seed: int, rl: Any) -> int:
    """`rank_seed` for an RL loop: shared by every process under `faults.same_rollouts`."""
    return rank_seed(seed, rl.accelerator, rl.cfg.faults.same_rollouts)


def all_true(accelerator: Any, flag: bool) -> bool:
    """True only when `flag` holds on every process (so all skip, or none does: a process
    that skips a backward the others run would leave them waiting in the all-reduce)."""
    if accelerator.num_processes <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(t, reduction="sum").item() == accelerator.num_processes)


@torch.no_grad()
def weights_checksum(model: nn.Module) -> float:
    """A float64 fingerprint of the trainable weights: position-weighted sums and squares.

    Identical weights give the identical number on identical hardware (same reduction
    order); any drift changes it. Cheap on a GPU, unlike hashing the bytes. A sharded
    parameter is gathered first (every process calls this, in the same order), so the
    number fingerprints the model, not one process's shard.
    """
    total = torch.zeros((), dtype=torch.float64)
    for i, p in enumerate(q for q in model.parameters() if q.requires_grad):
        d = sharding.full_tensor(p.detach()).double()
        total += ((i + 1) * d.sum() + d.pow(2).sum()).cpu()
    return float(total)


def gather(accelerator: Any, value: Any) -> list[Any]:
    """`value` from every process, in process order (a one-item list on one process)."""
    if accelerator.num_processes <= 1:
        return [value]
    from accelerate.utils import gather_object

    return list(gather_object([value]))


def check_in_sync(accelerator: Any, model: nn.Module) -> dict[str, Any]:
    """Metrics comparing the processes' weights; raises when they differ (a silent DDP bug
    would otherwise train N different models and save only one of them)."""
    sums = gather(accelerator, weights_checksum(model))
    if len(set(sums)) > 1:
        raise RuntimeError(f"weights differ across processes after the update: checksums {sums}")
    return {"weights_checksum": sums[0], "weights_checksums": sums}


class NullLog:
    """The metrics log of a non-main process: every call is accepted and nothing is written."""

    def log(self, record: dict[str, Any]) -> None:
        pass

    def truncate_after(self, step: int) -> None:
        pass

    def close(self) -> None:
        pass


def gather_flat(accelerator: Any, items: list[Any]) -> list[Any]:
    """Every process's `items`, concatenated (so e.g. the curriculum sees all groups and stays
    the same on every process)."""
    return [x for part in gather(accelerator, items) for x in part]


def maybe_check_sync(rl: Any, step: int) -> dict[str, Any]:
    """Every `faults.sync_check_every` steps on several processes: compare weight checksums."""
    every = rl.cfg.faults.sync_check_every
    if rl.accelerator.num_processes <= 1 or not every or (step + 1) % every:
        return {}
    return check_in_sync(rl.accelerator, rl.unwrapped)


def rollout_digests(accelerator: Any, rollouts: list[Any]) -> dict[str, Any]:
    """Several processes: a short hash of each process's sampled token ids, showing that the
    processes sampled different completions (data parallelism, not N copies of one batch)."""
    if accelerator.num_processes <= 1:
        return {}
    import hashlib

    h = hashlib.sha256(repr([tuple(r.completion_ids) for r in rollouts]).encode()).hexdigest()[:12]
    return {"rollout_digests": gather(accelerator, h)}


def sync_check_callbacks(run_dir: RunDir, every: int) -> list[Any]:
    """For HF-Trainer loops (sft) on several processes: a callback that compares the processes'
    weight checksums every `every` optimizer steps and logs them (an empty list otherwise)."""
    if launched_world_size() <= 1 or every <= 0:
        return []
    from transformers import TrainerCallback

    class SyncCheck(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            if state.global_step % every == 0:
                from accelerate import PartialState

                sums = gather(PartialState(), weights_checksum(model))
                record = {"step": state.global_step, "weights_checksums": sums}
                run_dir.append_jsonl(run_dir.metrics_path, record)
                if len(set(sums)) > 1:
                    raise RuntimeError(f"weights differ across processes at step {state.global_step}: {sums}")

    return [SyncCheck()]


def new_accelerator(device: str, mixed_precision: str) -> Any:
    """An `Accelerator` for one run.

    accelerate caches its state per process, and refuses a second Accelerator whose
    precision or device differ from the first. One process may hold several runs (the
    demo's SFT then GRPO, a notebook, tests), so on a single process the cached state is
    cleared first. Under a multi-process launch the state is the launcher's and is kept.
    Under an FSDP launch on CPU processes the state is promoted to FSDP2
    (`rlhf.runtime.sharding.promote_cpu_fsdp`); launches never run here are refused first.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    sharding.check_launch(use_cpu(device))
    if launched_world_size() <= 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    # step_scheduler_with_optimizer=False: accelerate would otherwise step a prepared schedule once
    # per process on every update (it assumes each process saw 1/N of the data), so an N-process
    # RL run, where every process makes the same updates, decayed its LR N times too fast
    accelerator = Accelerator(
        cpu=use_cpu(device), mixed_precision=mixed_precision, step_scheduler_with_optimizer=False
    )
    sharding.promote_cpu_fsdp(accelerator)
    return accelerator
