"""Run under `torch.distributed.run --nproc_per_node 2` with argv MODEL_DIR: shard the tiny model over
both processes (fully_shard, gloo), change its weights, and give rank 0 an in-process vLLM engine
(`SAMPLERS['vllm']`, KV cache capped). The engine's first sync pushes the weights gathered from the
shards and runs the parity probe: the engine's logprobs against the sharded model's forward. Rank 1
joins each collective rank 0 makes (the gather, the probe's forward) with the same calls. Prints one
JSON line per process; a stuck start dumps every thread's stack after STALL seconds."""

from __future__ import annotations

import faulthandler
import os
import sys
import time

import torch
import torch.distributed as dist

STALL = float(os.environ.get("COTRL_STALL_DUMP_S", "240"))


def main() -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlhf.config.loader import from_dict
    from rlhf.config.recipe import RunConfig
    from rlhf.models.policy import checkpoint_state_dict
    from rlhf.rollout import SAMPLERS
    from rlhf.rollout.parity import FALLBACK_PROBE_TEXT, trainer_logprobs
    from tests.faults.common import emit_row

    faulthandler.dump_traceback_later(STALL, exit=True)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the trained weights differ from the directory the engine loads
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    mesh = init_device_mesh("cpu", (2,))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    cfg = from_dict(RunConfig, {"trainer": "grpo", "vllm": {"kv_cache_mib": 16, "max_model_len": 256}})
    out: dict = {"rank": rank}
    peak0 = _peak_rss_mib()
    if rank == 0:
        t0 = time.perf_counter()
        sampler = SAMPLERS.get("vllm")(model, tok, cfg)  # builds the engine, syncs once, probes
        out["engine_start_and_first_sync_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        report = sampler.sync_weights(model)
        out["sync_s"] = round(time.perf_counter() - t0, 3)
        out["probe_max_abs_diff"] = report.probe_max_abs_diff
        out["probe_tolerance"] = report.extra.get("probe_tolerance")
        sampler.close()
    else:
        batch = [tok(FALLBACK_PROBE_TEXT)["input_ids"][:256]]
        for _ in range(2):  # the engine's first sync and the one above: gather, then the probe's forward
            full = checkpoint_state_dict(model)
            out["gathered_mib"] = round(sum(t.numel() * t.element_size() for t in full.values()) / 2**20, 2)
            del full
            trainer_logprobs(model, batch)
    out["peak_rss_mib_before_engine"] = peak0
    out["peak_rss_mib"] = _peak_rss_mib()
    out["default_group_size"] = dist.get_world_size()
    faulthandler.cancel_dump_traceback_later()
    emit_row(out)
    dist.barrier()  # no destroy_process_group: the engine's own clean-up at exit destroys the groups


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
