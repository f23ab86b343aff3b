"""One process of `bench/bench_fsdp.py`: started by `accelerate launch` with the DDP or the FSDP2
CPU config, it goes through cotrl's own runtime (`new_accelerator`, which restores the FSDP2
plugin on CPU, then `accelerator.prepare`) and times an update loop on a mid-sized Qwen2 model:
forward+backward, clip+optimizer step, the full-weights gather for the final model / a vLLM
engine (`full_state_dict`) and the weights checksum. Memory per process is counted exactly (bytes
of this process's parameters, gradients and AdamW state), as peak RSS, and as the bytes the gather
leaves on this process (the full copy on rank 0, nothing elsewhere). Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlhf.runtime import distributed as dist  # noqa: E402
from rlhf.runtime import optim  # noqa: E402
from rlhf.runtime.sharding import full_state_dict, layout  # noqa: E402


def local_bytes(tensors) -> int:
    from torch.distributed.tensor import DTensor

    total = 0
    for t in tensors:
        local = t.to_local() if isinstance(t, DTensor) else t
        total += local.numel() * local.element_size()
    return total


def main() -> None:
    from transformers import AutoModelForCausalLM, Qwen2Config

    hidden, layers, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    acc = dist.new_accelerator("cpu", "no")
    cfg = Qwen2Config(
        vocab_size=4096,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=hidden // 64,
        intermediate_size=hidden * 3,
        tie_word_embeddings=False,
    )
    model = AutoModelForCausalLM.from_config(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = optim.adamw(list(model.parameters()), 1e-4, 0.0)
    model, opt = acc.prepare(model, opt)
    x = torch.randint(0, 4096, (4, 128))
    fwd_bwd, step_t, gather_t, checksum_t = [], [], [], []
    for i in range(steps):
        t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        acc.backward(loss)
        t1 = time.perf_counter()
        acc.clip_grad_norm_(model.parameters(), 1.0)
        grads = local_bytes(p.grad for p in model.parameters() if p.grad is not None)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        full = full_state_dict(acc.unwrap_model(model))
        t3 = time.perf_counter()
        gathered_mib = sum(v.numel() * v.element_size() for v in full.values()) / 2**20
        dist.weights_checksum(acc.unwrap_model(model))
        t4 = time.perf_counter()
        if i > 0:  # the first step pays one-time costs
            fwd_bwd.append(t1 - t0)
            step_t.append(t2 - t1)
            gather_t.append(t3 - t2)
            checksum_t.append(t4 - t3)
        del full
    state = [
        v for s in opt.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0
    ]
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    print(
        json.dumps(
            {
                "layout": layout()["sharding"],
                "rank": acc.process_index,
                "params_total": n_params,
                "param_mib": local_bytes(model.parameters()) / 2**20,
                "grad_mib": grads / 2**20,
                "adam_mib": local_bytes(state) / 2**20,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "fwd_bwd_s": mean(fwd_bwd),
                "clip_step_s": mean(step_t),
                "gather_full_s": mean(gather_t),
                "gathered_mib": gathered_mib,  # the CPU copy the gather leaves on this process
                "checksum_s": mean(checksum_t),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
