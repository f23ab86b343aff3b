"""The transformers sampler: shapes, seeds, stop strings, logprob parity, left padding."""

from __future__ import annotations

import pytest
import torch

from rlhf.models.policy import token_logprobs
from rlhf.rollout import SAMPLERS
from rlhf.rollout.base import Sampler, SamplingParams
from rlhf.rollout.hf import HFSampler


@pytest.fixture(scope="module")
def model_tok(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("fast", [True, False])
def test_n_samples_seeded_and_logprobs_match_trainer(model_tok, fast):
    model, tok = model_tok
    sampler = HFSampler(model, tok, fast=fast)
    assert sampler.fast == fast
    assert isinstance(sampler, Sampler)
    prompts = [tok("Compute 12 + 7 * 3.").input_ids, tok("Solve 2x = 8").input_ids]
    params = SamplingParams(n=3, max_new_tokens=10, temperature=0.8, seed=7)
    out = sampler.generate(prompts, params)
    assert [len(g) for g in out] == [3, 3]
    assert out == sampler.generate(prompts, params)  # same seed, same samples
    assert out != sampler.generate(prompts, SamplingParams(n=3, max_new_tokens=10, temperature=0.8, seed=8))
    for prompt, group in zip(prompts, out):
        for c in group:
            assert 1 <= len(c.token_ids) <= 10 and len(c.logprobs) == len(c.token_ids)
            assert c.finish_reason in ("stop", "length")
            ids = torch.tensor([list(prompt) + list(c.token_ids)])
            lp = token_logprobs(model, ids, torch.ones_like(ids), temperature=0.8)[0][0, len(prompt) :]
            torch.testing.assert_close(lp, torch.tensor(c.logprobs), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("fast", [True, False])
def test_left_padding_does_not_change_greedy_output(model_tok, fast):
    model, tok = model_tok
    sampler = HFSampler(model, tok, fast=fast)
    short, long = tok("Add 3").input_ids, tok("Compute the interest on 1000 at 5% for 2 years.").input_ids
    greedy = SamplingParams(n=1, max_new_tokens=8, temperature=0.0)
    alone = sampler.generate([short], greedy)[0][0]
    batched = sampler.generate([long, short], greedy)[1][0]
    assert alone.token_ids == batched.token_ids
    torch.testing.assert_close(
        torch.tensor(alone.logprobs), torch.tensor(batched.logprobs), atol=1e-4, rtol=1e-4
    )
    other = HFSampler(model, tok, fast=not fast).generate([long, short], greedy)  # both decode paths agree
    assert [c[0].token_ids for c in other] == [
        c[0].token_ids for c in sampler.generate([long, short], greedy)
    ]


def test_fast_path_with_lora_and_finished_rows(model_tok, tiny_model_dir):
    """Rows that stop early are dropped from the cache; the others' logprobs must not change."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _, tok = model_tok
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    fast, slow = HFSampler(model, tok, fast=True), HFSampler(model, tok, fast=False)
    assert fast.fast
    prompts = [tok("Compute 12 + 7 * 3.").input_ids, tok("Solve 2x = 8 for x").input_ids]
    params = SamplingParams(n=6, max_new_tokens=16, temperature=1.0, seed=5, stop=("1", "2"))
    out = fast.generate(prompts, params)
    assert any(c.finish_reason == "stop" for g in out for c in g)
    for prompt, group in zip(prompts, out):
        for c in group:
            ids = torch.tensor([list(prompt) + list(c.token_ids)])
            lp = token_logprobs(model, ids, torch.ones_like(ids))[0][0, len(prompt) :]
            torch.testing.assert_close(lp, torch.tensor(c.logprobs), atol=1e-4, rtol=1e-4)
    greedy = SamplingParams(n=1, max_new_tokens=12, temperature=0.0, stop=("1",))
    assert [g[0].token_ids for g in fast.generate(prompts, greedy)] == [
        g[0].token_ids for g in slow.generate(prompts, greedy)
    ]


def test_stop_strings_and_eos_end_a_row(model_tok):
    model, tok = model_tok
    sampler = HFSampler(model, tok)
    prompt = tok("Compute 12 + 7 * 3.").input_ids
    free = sampler.generate([prompt], SamplingParams(n=4, max_new_tokens=24, temperature=1.0, seed=1))[0]
    # pick a substring the unconstrained sample produced and use it as a stop string
    text = free[0].text
    stop = text[3:5] if len(text) >= 5 else text[:1]
    cut = sampler.generate(
        [prompt], SamplingParams(n=4, max_new_tokens=24, temperature=1.0, seed=1, stop=(stop,))
    )[0]
    assert cut[0].finish_reason == "stop" and stop in cut[0].text
    assert len(cut[0].token_ids) < len(free[0].token_ids) or free[0].finish_reason == "stop"
    assert cut[0].token_ids == free[0].token_ids[: len(cut[0].token_ids)]  # same seed: a prefix
    for c in cut + free:
        assert tok.eos_token_id not in c.token_ids[:-1]  # nothing after an end token


def test_registry_factory_and_batch_size(model_tok, tiny_model_dir):
    from rlhf.config.recipe import ModelSection, RolloutSection, RunConfig

    model, tok = model_tok
    cfg = RunConfig(
        trainer="grpo", model=ModelSection(path=str(tiny_model_dir)), rollout=RolloutSection(batch_size=2)
    )
    sampler = SAMPLERS.get("transformers")(model, tok, cfg)
    out = sampler.generate([tok("x").input_ids], SamplingParams(n=5, max_new_tokens=4, seed=0))
    assert len(out[0]) == 5
    assert sampler.sync_weights(model).num_tensors == 0
