"""Sharded training: FSDP2 through accelerate, on GPUs and on CPU processes alike.

`accelerate launch --config_file recipes/accelerate/fsdp2_cpu_2proc.yaml ...` starts processes
whose model parameters are DTensor shards (`torch.distributed.fsdp.fully_shard`, applied by
accelerate's own `fsdp2_prepare_model`). What changes for cotrl, and where it is handled:

- accelerate forms FSDP only on accelerators: on CPU processes (gloo) its state says MULTI_CPU
  and the FSDP plugin is dropped, so every process would silently train a full replica.
  `promote_cpu_fsdp` puts the launcher's plugin back (FSDP2 only: version 1 was never run here);
- a parameter is a shard: a weights fingerprint, the final model and the vLLM sync need the full
  tensors (`full_state_dict`, `weights_checksum`), gathered in the same order on every process;
- generation runs a different number of forwards on each process (each samples its own
  completions and stops when they end), so it cannot all-gather per forward: `unsharded`
  gathers every parameter once, generation runs on plain tensors, then the shards come back;
- checkpoints are `torch.distributed.checkpoint` directories, each process writing its shards
  (`rlhf.runtime.sharded_checkpoint`).

On one process, or under DDP, every function here is the identity or a no-op.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn


def fsdp_launch() -> bool:
    """The launcher asked for FSDP (`distributed_type: FSDP` in the accelerate config)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def deepspeed_launch() -> bool:
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def layout_name() -> str:
    """How the launched processes hold the model: `fsdp2`, `deepspeed` or `replicated` (one process, DDP)."""
    if fsdp_launch():
        return "fsdp2"
    return "deepspeed" if deepspeed_launch() else "replicated"


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def layout() -> dict[str, Any]:
    """What a checkpoint records so a resume can refuse a launch that cannot continue it."""
    return {"sharding": layout_name(), "world_size": world_size()}


def check_resume_layout(checkpoints: Path) -> None:
    """Refuse `--resume` when the newest checkpoint was written by another layout (one line).

    A sharded checkpoint holds each process's optimizer shards; a replicated one (one process,
    DDP) holds one copy; and the world size sets how many rollouts a step samples. Continuing
    across either change would not be the same run. Checked before anything is loaded or written.
    Checkpoints from before the layout was recorded are replicated ones of unknown world size.
    """
    from rlhf.runtime.checkpoint import STATE, latest_checkpoint

    path = latest_checkpoint(checkpoints)
    if path is None:
        return
    saved = json.loads((path / STATE).read_text()).get("layout") or {"sharding": "replicated"}
    now = layout()
    if saved["sharding"] != now["sharding"]:
        raise ValueError(
            f"--resume: checkpoint {path} was written by a {saved['sharding']} run but this launch is "
            f"{now['sharding']}; resume it with the accelerate config it was started with"
        )
    if saved.get("world_size", now["world_size"]) != now["world_size"]:
        raise ValueError(
            f"--resume: checkpoint {path} was written by {saved['world_size']} processes but this "
            f"launch has {now['world_size']}: the optimizer state and the per-step rollouts are laid out "
            "per process, so resume on the same world size (the model weights alone load on any: "
            "rlhf.runtime.sharded_checkpoint.load_model_weights)"
        )


def check_launch(cpu: bool) -> None:
    """Refuse launches that were never run, before anything loads (one line each)."""
    if fsdp_launch() and os.environ.get("FSDP_VERSION", "1") != "2":
        raise ValueError(
            f"accelerate config fsdp_config.fsdp_version={os.environ.get('FSDP_VERSION', '1')}: "
            "cotrl runs FSDP2 only (fsdp_version: 2); FSDP1 was never run"
        )
    if deepspeed_launch() and cpu:
        raise ValueError(
            "accelerate config distributed_type=DEEPSPEED on CPU: cotrl's DeepSpeed path was never run "
            "on CPU processes (accelerate drops DeepSpeed there; see docs/SCALING.md); use "
            "recipes/accelerate/fsdp2_cpu_2proc.yaml"
        )


SHARDED_TRAINERS = ("grpo", "ppo", "sft", "distill", "prm")  # FSDP2 runs compared with one process in tests


def check_trainer(trainer: str) -> None:
    """Refuse a launch the trainer was never run under (one line each).

    FSDP: only the built-in trainers were checked sharded (a trainer registered by user code might
    train replicas or read shards as weights). Several processes without FSDP: the prm loop is not
    data parallel (each process would train its own copy and write the same files), so it runs on
    one process or sharded, where every process takes the whole batch (`rlhf.trainers.prm.shard`).
    """
    if fsdp_launch() and trainer not in SHARDED_TRAINERS:
        raise ValueError(
            f"trainer {trainer!r} under FSDP was never run: cotrl shards {', '.join(SHARDED_TRAINERS)} "
            "only; launch it with recipes/accelerate/ddp_cpu_2proc.yaml or on one process"
        )
    if trainer == "prm" and world_size() > 1 and not fsdp_launch():
        raise ValueError(
            f"trainer 'prm' on {world_size()} processes without FSDP: its loop is not data parallel; "
            "launch it with recipes/accelerate/fsdp2_cpu_2proc.yaml (sharded) or on one process"
        )


def check_combination(lora: bool, rollout_backend: str) -> None:
    """Refuse DeepSpeed ZeRO-3 with LoRA and a vLLM weight sync: never run (docs/SCALING.md)."""
    stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "")
    if deepspeed_launch() and stage == "3" and lora and rollout_backend == "vllm":
        raise ValueError(
            "DeepSpeed ZeRO-3 with lora.enabled and rollout.backend=vllm was never run (the merged "
            "adapter must be gathered from ZeRO-3 partitions); use recipes/accelerate/fsdp2.yaml"
        )


def promote_cpu_fsdp(accelerator: Any) -> None:
    """Make accelerate shard with FSDP2 on CPU processes, as the launcher asked.

    accelerate's state turns FSDP on only for accelerator devices; on CPU it reports MULTI_CPU
    and forgets the plugin, and the model would be prepared as a DDP replica. Both shared
    states (PartialState and AcceleratorState, which copies the former) are set, with the plugin
    the launcher's environment describes; `accelerator.prepare` then runs accelerate's own
    `fsdp2_prepare_model`, `clip_grad_norm_` and optimizer re-binding.
    """
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    if not fsdp_launch() or accelerator.distributed_type != DistributedType.MULTI_CPU:
        return
    plugin = FullyShardedDataParallelPlugin()  # reads the FSDP_* variables accelerate launch set
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["fsdp_plugin"] = plugin
    assert accelerator.is_fsdp2, "accelerate did not take the FSDP2 plugin"


def is_sharded(model: nn.Module) -> bool:
    """True when `model` (or a module inside it) was wrapped by `fully_shard`."""
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(m, FSDPModule) for m in model.modules())


def check_shared_parameters(model: nn.Module) -> None:
    """Refuse a model whose parameters are shared under several names other than the tied
    input/output embeddings: FSDP2 would shard the shared tensor in one unit and read it
    unsharded from another (accelerate groups only the tied embeddings together)."""
    seen: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), []).append(name)
    inp = getattr(model, "get_input_embeddings", lambda: None)()
    out = getattr(model, "get_output_embeddings", lambda: None)()
    tied = id(inp.weight) if inp is not None and out is not None and inp.weight is out.weight else None
    for key, names in seen.items():
        if len(names) < 2 or key == tied:
            continue
        raise ValueError(
            f"model parameters {', '.join(names)} are one shared tensor but not the tied embeddings: "
            "FSDP cannot shard them (untie them in the model, or train without FSDP)"
        )


def _fsdp_modules(model: nn.Module) -> list[nn.Module]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextlib.contextmanager
def unsharded(model: nn.Module) -> Iterator[nn.Module]:
    """Inside: every parameter of `model` is the full tensor, and forwards run no collective.

    Each process gathers the shards once (all-gathers in module order, the same on every
    process), turns resharding after forward off, and on exit puts both back. Used for
    generation (each process decodes a different number of steps) and for reading full weights
    module by module (the LoRA merge of the vLLM sync). Memory: one full copy of the weights per
    process while inside, what a colocated engine holds anyway.
    """
    mods = _fsdp_modules(model)
    if not mods:
        yield model
        return
    mods[0]._get_fsdp_state()._lazy_init()  # the root: decoders may call inner modules first
    saved = []
    for m in mods:
        state = m._get_fsdp_state()
        saved.append(
            (
                state,
                state._auto_reshard_after_forward,
                [g.post_forward_mesh_info for g in state._fsdp_param_groups],
            )
        )
    mods[0].set_reshard_after_forward(False, recurse=True)
    for m in mods:
        m.unshard()
    try:
        yield model
    finally:
        for state, auto, infos in saved:
            state._auto_reshard_after_forward = auto
            for g, info in zip(state._fsdp_param_groups, infos):
                g.post_forward_mesh_info = info
        for m in mods:
            m.reshard()


def full_state_dict(model: nn.Module, rank0_only: bool = True) -> dict[str, torch.Tensor]:
    """The full (unsharded) state dict on CPU; under FSDP every process must call it.

    With `rank0_only` the other processes get `{}` (the gathered copy lives in the main
    process's CPU memory only: what the final model and a single vLLM engine need).
    Unsharded models return their own state dict, detached.
    """
    if not is_sharded(model):
        return {k: v.detach() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=rank0_only)
    state = dict(get_model_state_dict(model, options=options))
    # tied parameters (embeddings and LM head) come back as two copies; one tensor under both
    # names lets save_pretrained drop the tied key as it does for an unsharded model
    first: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first and name in state and first[id(p)] in state:
            state[name] = state[first[id(p)]]
        first.setdefault(id(p), name)
    return state


def gathered(model: nn.Module) -> dict[str, Any]:
    """`save_pretrained` keyword arguments: the full state dict of a sharded model (gathered on every
    process, e.g. for an adapter each process pushes to its own engine); nothing otherwise."""
    return {"state_dict": full_state_dict(model, rank0_only=False)} if is_sharded(model) else {}


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor shard gathered to its full value (a collective); a plain tensor as is."""
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def check_before_prepare(accelerator: Any, model: nn.Module, lora: bool, rollout_backend: str) -> None:
    """The checks that need the loaded model, run before accelerate shards it."""
    check_combination(lora, rollout_backend)
    if getattr(accelerator, "is_fsdp2", False):
        check_shared_parameters(model)
