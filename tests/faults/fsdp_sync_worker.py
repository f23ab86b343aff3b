"""Run under `torch.distributed.run --nproc_per_node 2`: shard a tiny LoRA model with fully_shard and
check that what a vLLM sync would push (`merged_state_dict`, gathered from the shards on every
process) equals the unsharded model's merged weights bit for bit, and that the final-model gather
(`full_state_dict`, rank 0 only) holds every full tensor. Prints one JSON line per process."""

from __future__ import annotations

import sys
import time

import torch
import torch.distributed as dist
from peft import LoraConfig, get_peft_model
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import AutoModelForCausalLM, Qwen2Config

from rlhf.models.policy import merged_state_dict
from rlhf.runtime.sharding import full_state_dict, is_sharded
from tests.faults.common import emit_row


def main() -> None:
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=320,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=1,
        num_key_value_heads=1,
        intermediate_size=128,
    )
    lora = sys.argv[1] == "lora"
    model = AutoModelForCausalLM.from_config(cfg)
    if lora:
        model = get_peft_model(
            model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        )
    expected = {k: v.clone() for k, v in merged_state_dict(model).items()}
    plain = {k: v.clone() for k, v in model.state_dict().items()}
    mesh = init_device_mesh("cpu", (2,))
    for layer in model.get_base_model().model.layers if lora else model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    t0 = time.perf_counter()
    merged = merged_state_dict(model)
    seconds = time.perf_counter() - t0
    full = full_state_dict(model)  # rank 0 only
    out = {
        "rank": dist.get_rank(),
        "sharded": is_sharded(model),
        "merged_equal": sorted(merged) == sorted(expected)
        and all(torch.equal(merged[k], expected[k]) for k in expected),
        "full_keys": len(full),
        "full_equal": all(torch.equal(full[k], plain[k]) for k in full),
        "plain_keys": len(plain),
        "gather_seconds": seconds,
    }
    emit_row(out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
