"""The `vllm:` recipe section, the probe arithmetic, and early refusals (no engine is started here)."""

from __future__ import annotations

import pytest
import torch

from rlhf.config.loader import ConfigError, from_dict
from rlhf.config.recipe import RunConfig
from rlhf.rollout import parity


def _cfg(**vllm: object) -> RunConfig:
    return from_dict(RunConfig, {"trainer": "grpo", "vllm": dict(vllm)})


def test_vllm_section_defaults_and_validation():
    v = _cfg().vllm
    assert v.mode == "colocate" and v.probe_interval == 1 and v.probe_tolerance is None
    assert _cfg(mode="server", server_url="http://10.0.0.2:8000").vllm.mode == "server"
    for bad, key in (
        ({"probe_interval": -1}, "vllm.probe_interval"),
        ({"probe_tolerance": 0}, "vllm.probe_tolerance"),
        ({"server_url": "localhost:8000"}, "vllm.server_url"),
        ({"kv_cache_mib": 0}, "vllm.kv_cache_mib"),
    ):
        with pytest.raises(ConfigError, match=key):
            _cfg(**bad)
    with pytest.raises(ConfigError, match="lora_sync"):
        _cfg(lora_sync="adpater")


def test_probe_compare_and_error_message():
    ok = parity.compare([[-1.0, -2.0]], [[-1.0, -2.0005]], tolerance=1e-3)
    assert ok.ok and ok.num_tokens == 2 and abs(ok.max_abs_diff - 5e-4) < 1e-9
    bad = parity.compare([[-1.0, -2.0]], [[-1.5, -2.0]], tolerance=1e-3)
    assert not bad.ok and bad.mean_abs_diff == pytest.approx(0.25)
    with pytest.raises(parity.WeightSyncError, match=r"sync #3 \(lora adapter\).*0\.5 > tolerance 0\.001"):
        parity.raise_if_mismatch(bad, 3, "lora adapter")
    assert parity.default_tolerance(torch.bfloat16) > parity.default_tolerance(torch.float32)
    assert parity.probe_sequences([[1, 2], [3]], [[4], []], size=4, max_len=3) == [[1, 2, 4]]


def test_trainer_logprobs_match_a_hand_computed_forward(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).train()
    seqs = [[5, 6, 7, 8], [9, 10]]
    got = parity.trainer_logprobs(model, seqs)
    assert model.training  # restored
    with torch.no_grad():
        model.eval()
        lp = model(torch.tensor([seqs[0]])).logits[0, :-1].log_softmax(-1)
    want = lp.gather(-1, torch.tensor(seqs[0][1:])[:, None])[:, 0].tolist()
    assert [len(r) for r in got] == [3, 1]
    assert max(abs(a - b) for a, b in zip(got[0], want)) < 1e-5


@pytest.mark.vllm
@pytest.mark.slow  # importing vllm takes ~10 s on 2 cores
def test_unsupported_head_dim_is_refused_before_an_engine_starts(tmp_path):
    pytest.importorskip("vllm")
    from transformers import AutoModelForCausalLM

    from rlhf.models.tiny import build_tiny_model
    from rlhf.rollout.vllm_backend import check_supported

    small = build_tiny_model(tmp_path / "m", hidden_size=32, num_heads=2, intermediate_size=64)  # head_dim 16
    model = AutoModelForCausalLM.from_pretrained(str(small))
    with pytest.raises(ValueError, match="head_dim 16.*rollout.backend: transformers"):
        check_supported(model)
