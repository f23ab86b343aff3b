"""Checkpoints of sharded (FSDP2) runs: each process writes its own shards, atomically.

The layout beside `rlhf.runtime.checkpoint`'s (same `step-NNNNNN/` names, same `state.json`,
same pruning, same "a killed write leaves the previous checkpoint intact"):

    step-NNNNNN/dcp/        torch.distributed.checkpoint: model and optimizer shards of every
                            process (one .distcp file each) and the .metadata naming them
    step-NNNNNN/NAME.pt     plain objects (the LR schedule), written by the main process
    step-NNNNNN/rng-R.pt    process R's RNG states (each process samples with its own)
    step-NNNNNN/state.json  data cursor, curriculum, counters and the `layout` (sharding, world size)

The main process makes the temporary directory and tells the others its name; all write into
it; the main process writes state.json last and renames the directory into place. A process
killed anywhere before the rename leaves a temporary directory that `prune` removes later.

Resume needs the same world size (the optimizer's shards are laid out per process);
`load_model_weights` reads the model's weights alone on any number of processes, one included.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from data_gen.writers import honour_umask, make_temp_dir
from rlhf.runtime import checkpoint as ckpt
from rlhf.runtime import killpoints
from rlhf.runtime.sharding import is_sharded, layout

DCP_DIR = "dcp"


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def _broadcast_path(path: Path | None) -> Path:
    import torch.distributed as dist

    if not dist.is_initialized():
        assert path is not None
        return path
    box = [str(path) if path is not None else None]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


def _options(full: bool = False) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # frozen parameters (the base model under LoRA) are not saved: the recipe rebuilds them
    return StateDictOptions(ignore_frozen_params=True, strict=False, full_state_dict=full)


def _states(models: dict[str, tuple[nn.Module, Any]]) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    out: dict[str, Any] = {}
    for name, (model, optimizer) in models.items():
        out[f"{name}.model"] = get_model_state_dict(model, options=_options())
        if optimizer is not None:
            out[f"{name}.optimizer"] = get_optimizer_state_dict(
                model, _torch_optim(optimizer), options=_options()
            )
    return out


def _torch_optim(optimizer: Any) -> Any:
    """The torch optimizer inside accelerate's wrapper (DCP reads its param groups)."""
    return getattr(optimizer, "optimizer", optimizer)


def save(
    root: Path,
    step: int,
    models: dict[str, tuple[nn.Module, Any]],
    objects: dict[str, Any],
    state: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint `step`: every process calls this (the shards are collective).

    `models` maps a name to (sharded model, its optimizer or None); `objects` are torch-saved
    by the main process; `state` goes to state.json.
    """
    import torch.distributed.checkpoint as dcp

    main = _rank() == 0
    final = root / f"{ckpt.PREFIX}{step:06d}"
    tmp = None
    if main:
        root.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_dir(final)
    tmp = _broadcast_path(tmp)
    dcp.save(_states(models), checkpoint_id=str(tmp / DCP_DIR))
    killpoints.reached("checkpoint", step)  # fault tests: die with the shards written, state.json not
    torch.save(ckpt.rng_state(), tmp / ckpt.rng_file(_rank()))
    _barrier()
    if main:
        try:
            for name, obj in objects.items():
                torch.save(obj, tmp / f"{name}.pt")
            (tmp / ckpt.STATE).write_text(json.dumps({"step": step, **state}, indent=2))
            honour_umask(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        ckpt.prune(root, keep)
    _barrier()
    return final


def load(path: Path, models: dict[str, tuple[nn.Module, Any]], names: list[str]) -> dict[str, Any]:
    """Restore `models` (and their optimizers) from checkpoint `path` in place; returns the plain
    objects named in `names` that the checkpoint holds (this process's RNG: `ckpt.restore_rng`)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    states = _states(models)
    dcp.load(states, checkpoint_id=str(path / DCP_DIR))
    for name, (model, optimizer) in models.items():
        set_model_state_dict(model, states[f"{name}.model"], options=_options())
        if optimizer is not None:
            set_optimizer_state_dict(
                model, _torch_optim(optimizer), states[f"{name}.optimizer"], options=_options()
            )
    return {
        n: torch.load(path / f"{n}.pt", weights_only=False) for n in names if (path / f"{n}.pt").is_file()
    }


def is_sharded_checkpoint(path: Path) -> bool:
    return (path / DCP_DIR).is_dir()


def load_model_weights(path: Path, model: nn.Module, name: str = "policy") -> None:
    """The model weights of sharded checkpoint `path` into `model`, whatever the world size
    that wrote it and the one reading it (one process included: DCP reshards on load).
    The optimizer state is not read."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    if not is_sharded_checkpoint(path):
        raise ValueError(f"{path} is not a sharded checkpoint (no {DCP_DIR}/ inside)")
    state = {f"{name}.model": get_model_state_dict(model, options=_options())}
    dcp.load(state, checkpoint_id=str(path / DCP_DIR))
    set_model_state_dict(model, state[f"{name}.model"], options=_options())


# ----------------------------------------------------------------------------- an RL loop's checkpoint


def loop_models(rl: Any) -> dict[str, tuple[nn.Module, Any]]:
    """The sharded (model, optimizer) pairs of an RL loop: the policy, and PPO's critic."""
    critic = {"critic": (rl.critic.model, rl.critic.optimizer)} if rl.critic is not None else {}
    return {"policy": (rl.model, rl.optimizer), **critic}


def save_loop(rl: Any, step: int, objects: dict[str, Any], state: dict[str, Any]) -> None:
    """An RL loop's checkpoint (`rlhf.trainers.rl.common.save`), with the launch's `layout` in state.json.

    Replicated (one process, DDP): the main process writes `objects` (all processes hold the
    same weights). Sharded: every process writes its shards of the models and optimizers; of
    `objects` only the schedule and the step rewards' own state are kept (the loop's copies of
    the weights are this process's shards, not the model)."""
    state = {**state, "layout": layout()}  # a resume on another layout or world size is refused
    keep = rl.cfg.run.keep_checkpoints
    if is_sharded(rl.model):
        plain = {k: objects[k] for k in ("scheduler", "reward_state") if k in objects}
        save(rl.run_dir.checkpoints, step, loop_models(rl), plain, state, keep)
        return
    if rl.accelerator.is_main_process:  # one writer; the processes' weights are identical
        ckpt.save_checkpoint(rl.run_dir.checkpoints, step, objects, state, keep)
    rl.accelerator.wait_for_everyone()


REPLICATED = ["trainable", "optimizer", "scheduler", "critic", "critic_optimizer", "reward_state"]


def load_loop(rl: Any, path: Path, load_trainable: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore an RL loop's models and optimizers from checkpoint `path`, either layout; returns
    (plain objects, state.json). `load_trainable(module, state)` loads a replicated checkpoint's
    trainable weights (`rlhf.models.policy.load_trainable_state_dict`). RNG: `ckpt.restore_rng`."""
    if is_sharded_checkpoint(path):
        plain = load(path, loop_models(rl), ["scheduler", "reward_state"])
        return plain, json.loads((path / ckpt.STATE).read_text())
    objects, state = ckpt.load_checkpoint(path, REPLICATED)
    load_trainable(rl.unwrapped, objects["trainable"])
    rl.optimizer.load_state_dict(objects["optimizer"])
    if rl.critic is not None:
        load_trainable(rl.critic.model, objects["critic"])
        rl.critic.optimizer.load_state_dict(objects["critic_optimizer"])
    return objects, state
