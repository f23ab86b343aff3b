"""Server mode: rollouts from a `vllm serve` process (other GPUs, another host), over HTTP only.

Nothing here imports vllm: the trainer needs only the standard library and torch. The server is
started with `VLLM_SERVER_DEV_MODE=1` (exposes the RL and dev endpoints) and, for LoRA adapter
sync, `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` plus `--enable-lora`:

    VLLM_SERVER_DEV_MODE=1 python -m vllm.entrypoints.openai.api_server --model MODEL_DIR \
        --host 127.0.0.1 --port 8000 [--enable-lora --max-lora-rank 16]

Endpoints used (vLLM 0.32):
- `POST /v1/completions` with token-id prompts, `return_token_ids`, `logprobs: 0` (rollouts) and
  `prompt_logprobs: 0` (the parity probe); one request per prompt so seeds match colocated mode.
- Full weights: `POST /pause`, write a safetensors checkpoint under `vllm.sync_dir` (a directory
  the server can read), `POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path": ...}}`
  (vLLM's in-place layerwise reload), `POST /reset_prefix_cache`, `POST /update_weight_version`,
  `POST /resume`.
- LoRA: save the adapter under `vllm.sync_dir`, `POST /v1/load_lora_adapter` with `load_inplace`.
The same parity probe as colocated mode runs after a sync.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from torch import nn

from rlhf.models.policy import checkpoint_state_dict
from rlhf.rollout import parity
from rlhf.rollout.base import Completion, SamplingParams, SyncReport
from rlhf.runtime.distributed import leader
from rlhf.runtime.sharding import gathered

LORA_NAME = "policy"
LORA_TARGETS = {
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
}  # vLLM serves these


class ServerError(RuntimeError):
    """The vLLM server answered with an error or not at all."""


class ServerSampler:
    """`rlhf.rollout.base.Sampler` backed by a running vLLM OpenAI-compatible server."""

    def __init__(
        self, cfg: Any, tokenizer: Any, *, lora_mode: str | None, dtype: Any, sync_dir: Path
    ) -> None:
        self.vcfg = cfg.vllm
        self.output_dir = cfg.run.output_dir
        self.url = self.vcfg.server_url.rstrip("/")
        self.tokenizer = tokenizer
        self.lora_mode = lora_mode
        self.stop_ids: list[int] = []  # set by make_server_sampler from the model and its template
        self.sync_dir = sync_dir
        self.tolerance = self.vcfg.probe_tolerance or parity.default_tolerance(dtype)
        self.model_name = self._get("/v1/models")["data"][0]["id"]
        self.max_len = int(self._get("/v1/models")["data"][0].get("max_model_len") or 1 << 30)
        self.num_syncs = 0
        self.probe_batch: list[list[int]] | None = None
        self._adapter_loaded = False
        self._last_dir: Path | None = None
        self.leader = leader()  # several training processes: one pushes weights, the others wait

    # -- HTTP

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.vcfg.server_timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ServerError(f"vLLM server {method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise ServerError(
                f"vLLM server at {self.url} unreachable ({method} {path}): {exc}. "
                "Is it running with VLLM_SERVER_DEV_MODE=1? (vllm.server_url)"
            ) from None
        try:
            return json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            return raw.decode(errors="replace")

    def _get(self, path: str) -> Any:
        return self._request("GET", path)

    def _post(self, path: str, body: dict | None = None) -> Any:
        return self._request("POST", path, body or {})

    @property
    def _served_name(self) -> str:
        return LORA_NAME if self._adapter_loaded else self.model_name

    # -- generation

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[Completion]]:
        def one(i: int) -> list[Completion]:
            body = {
                "model": self._served_name,
                "prompt": [int(t) for t in prompts[i]],
                "n": params.n,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_new_tokens,
                "stop": list(params.stop) or None,
                **({"stop_token_ids": self.stop_ids} if self.stop_ids else {}),
                "include_stop_str_in_output": True,
                "logprobs": 0,
                "return_token_ids": True,
            }
            if params.seed is not None:
                body["seed"] = (params.seed * 1_000_003 + i * params.n) % (1 << 31)
            choices = sorted(self._post("/v1/completions", body)["choices"], key=lambda c: c["index"])
            return [_completion(c) for c in choices]

        with ThreadPoolExecutor(max_workers=min(16, max(1, len(prompts)))) as pool:
            result = list(pool.map(one, range(len(prompts))))
        if self.probe_batch is None:
            self.probe_batch = (
                parity.probe_sequences(
                    prompts, [g[0].token_ids for g in result], self.vcfg.probe_size, self.max_len
                )
                or None
            )
        return result

    # -- weight sync

    def sync_weights(self, model: nn.Module) -> SyncReport:
        """Push `model`'s weights (or adapter) to the server; with several training processes only the
        leader pushes (their weights are identical) and the others wait until it has."""
        self.num_syncs += 1
        t0 = time.perf_counter()
        if self.leader.is_leader:
            num, how = self._push(model)
        else:
            num, how = self._pushed_by_leader(model)
        self.leader.wait()  # nobody samples or probes before the server holds the new weights
        if self.lora_mode == "adapter":
            self._adapter_loaded = True
        seconds = time.perf_counter() - t0
        extra: dict[str, Any] = {"how": how, "sync_index": self.num_syncs, "server": self.url}
        result = None
        if self.vcfg.probe_interval and self.num_syncs % self.vcfg.probe_interval == 0:
            result = self.check_parity(model, how=how)
            extra.update(probe_mean_abs_diff=result.mean_abs_diff, probe_tokens=result.num_tokens)
        if self.leader.is_leader:  # one line per sync in the run's vllm_sync.jsonl, not one per process
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
        return SyncReport(
            seconds=seconds,
            num_tensors=num,
            probe_max_abs_diff=None if result is None else result.max_abs_diff,
            extra=extra,
        )

    def _push(self, model: nn.Module) -> tuple[int, str]:
        target = Path(tempfile.mkdtemp(prefix=f"sync-{self.num_syncs}-", dir=self.sync_dir))
        if self.lora_mode == "adapter":
            model.save_pretrained(str(target), **gathered(model))  # sharded: the full adapter
            self._post(
                "/v1/load_lora_adapter",
                {"lora_name": LORA_NAME, "lora_path": str(target), "load_inplace": True},
            )
            num, how = sum(1 for n, _ in model.named_parameters() if "lora_" in n), "lora adapter"
        else:
            weights = checkpoint_state_dict(model)  # the names and layout vLLM reads from disk
            _save_safetensors(weights, target / "model.safetensors")
            self._post("/pause?mode=wait")
            try:
                self._post(
                    "/collective_rpc",
                    {
                        "method": "reload_weights",
                        "kwargs": {"weights_path": str(target), "is_checkpoint_format": True},
                    },
                )
                self._post("/reset_prefix_cache")
                self._post("/update_weight_version", {"new_version": str(self.num_syncs)})
            finally:
                self._post("/resume")
            num, how = len(weights), "merged lora" if self.lora_mode == "merge" else "full weights"
        if self._last_dir is not None:
            shutil.rmtree(self._last_dir, ignore_errors=True)
        self._last_dir = target
        return num, how

    def _pushed_by_leader(self, model: nn.Module) -> tuple[int, str]:
        """What the leader's push holds, for this process's log: nothing is sent from here."""
        if self.lora_mode == "adapter":
            return sum(1 for n, _ in model.named_parameters() if "lora_" in n), "lora adapter (leader)"
        num = len(model.state_dict())
        return num, ("merged lora" if self.lora_mode == "merge" else "full weights") + " (leader)"

    # -- parity probe

    def engine_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        out = []
        for seq in sequences:
            body = {
                "model": self._served_name,
                "prompt": [int(t) for t in seq],
                "max_tokens": 1,
                "temperature": 0.0,
                "prompt_logprobs": 0,
            }
            steps = self._post("/v1/completions", body)["choices"][0]["prompt_logprobs"]
            out.append([step[str(tok)]["logprob"] for step, tok in zip(steps[1:], seq[1:])])
        return out

    def check_parity(self, model: nn.Module, how: str = "check") -> parity.ProbeResult:
        batch = self.probe_batch or [self.tokenizer(parity.FALLBACK_PROBE_TEXT)["input_ids"]]
        result = parity.compare(
            self.engine_logprobs(batch), parity.trainer_logprobs(model, batch), self.tolerance
        )
        parity.raise_if_mismatch(result, self.num_syncs, how)
        return result

    def close(self) -> None:
        if self._last_dir is not None:
            shutil.rmtree(self._last_dir, ignore_errors=True)


def _completion(choice: dict) -> Completion:
    ids = tuple(int(t) for t in choice["token_ids"])
    lps = tuple(float(x) for x in (choice.get("logprobs") or {}).get("token_logprobs") or ())
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    return Completion(token_ids=ids, logprobs=lps, text=choice["text"], finish_reason=finish)


def lora_sync_mode(model: nn.Module, requested: str) -> str | None:
    """None for a plain model; "adapter" when vLLM can serve the adapter as is, else "merge"."""
    peft_cfg = getattr(_unwrap(model), "peft_config", None)
    if not peft_cfg:
        return None
    cfg = next(iter(peft_cfg.values()))
    targets = set(cfg.target_modules) if not isinstance(cfg.target_modules, str) else {cfg.target_modules}
    servable = (
        targets <= LORA_TARGETS
        and not getattr(cfg, "modules_to_save", None)
        and not getattr(cfg, "use_dora", False)
        and getattr(cfg, "bias", "none") == "none"
    )
    if requested == "adapter" and not servable:
        raise ValueError(
            f"vllm.lora_sync: adapter sync cannot serve target_modules={sorted(targets)} "
            f"(vLLM serves {sorted(LORA_TARGETS)}, no modules_to_save/DoRA/bias); use merge or auto"
        )
    if requested == "merge" or not servable:
        return "merge"
    return "adapter"


def template_stop_ids(model: nn.Module, tokenizer: Any) -> list[int]:
    """The tokenizer's eos (the chat template's end-of-turn token, `rlhf.models.chat`) as a stop id
    when the model's own config does not already end generation on it (Gemma's `<end_of_turn>`)."""
    eos = tokenizer.eos_token_id
    model_eos: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        ids = getattr(source, "eos_token_id", None)
        model_eos.update([ids] if isinstance(ids, int) else list(ids or ()))
    return [] if eos is None or eos in model_eos else [int(eos)]


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # DDP/accelerate wrappers


def _save_safetensors(weights: dict, path: Path) -> None:
    """Tied tensors share storage, which safetensors refuses: save contiguous copies."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in weights.items()}, str(path))


def make_server_sampler(model: nn.Module, tokenizer: Any, cfg: Any) -> ServerSampler:
    """`vllm.mode: server`: connect, push the trainer's weights once, probe parity."""
    base = _unwrap(model)
    sync_dir = Path(cfg.vllm.sync_dir or Path(cfg.run.output_dir) / "vllm_sync").resolve()
    sync_dir.mkdir(parents=True, exist_ok=True)
    sampler = ServerSampler(
        cfg,
        tokenizer,
        lora_mode=lora_sync_mode(base, cfg.vllm.lora_sync),
        dtype=next(base.parameters()).dtype,
        sync_dir=sync_dir,
    )
    sampler.stop_ids = template_stop_ids(base, tokenizer)
    sampler.sync_weights(base)
    return sampler
