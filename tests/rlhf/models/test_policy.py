"""Policy loading, LoRA vs full finetuning, logprobs, reference, tokenizer checks (real peft, real models)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rlhf.config.recipe import LoraSection, ModelSection, RunConfig
from rlhf.models.policy import (
    check_tokenizer,
    load_policy,
    merged_state_dict,
    reference_logprobs,
    resolve_model_path,
    token_logprobs,
)


def _cfg(path, lora: bool, kl: float = 0.0) -> RunConfig:
    cfg = RunConfig(
        trainer="grpo",
        model=ModelSection(path=str(path)),
        lora=LoraSection(enabled=lora, r=4, alpha=8, dropout=0.0),
    )
    return dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, kl_coef=kl))


def _train_a_bit(policy, steps: int = 2) -> None:
    opt = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])
    for _ in range(steps):
        lp, _ = token_logprobs(policy.model, ids, torch.ones_like(ids))
        (-lp.sum()).backward()
        opt.step()
        opt.zero_grad()


def test_lora_changes_only_adapter_params_and_reference_is_base(tiny_model_dir):
    policy = load_policy(_cfg(tiny_model_dir, lora=True), str(tiny_model_dir), need_reference=True)
    assert policy.ref_model is None  # no second copy under LoRA
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    base_lp = token_logprobs(policy.model.get_base_model(), ids, torch.ones_like(ids))[0]
    _train_a_bit(policy)
    changed = {n for n, p in policy.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    ref = reference_logprobs(policy, policy.model, ids, torch.ones_like(ids), 1.0)
    now = token_logprobs(policy.model, ids, torch.ones_like(ids))[0]
    torch.testing.assert_close(ref, base_lp.detach())  # adapter disabled == the untouched base
    assert not torch.allclose(now, ref)  # the adapter did move the policy


def test_full_finetune_changes_base_and_freezes_reference_only_with_kl(tiny_model_dir):
    assert (
        load_policy(_cfg(tiny_model_dir, lora=False), str(tiny_model_dir), need_reference=False).ref_model
        is None
    )
    policy = load_policy(_cfg(tiny_model_dir, lora=False, kl=0.1), str(tiny_model_dir), need_reference=True)
    ref_before = {n: p.detach().clone() for n, p in policy.ref_model.named_parameters()}
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    _train_a_bit(policy)
    changed = [n for n, p in policy.model.named_parameters() if not torch.equal(p, before[n])]
    assert "model.layers.0.self_attn.q_proj.weight" in changed and "model.embed_tokens.weight" in changed
    assert all(torch.equal(p, ref_before[n]) for n, p in policy.ref_model.named_parameters())


def test_token_logprobs_layout_and_entropy(tiny_model_dir):
    policy = load_policy(_cfg(tiny_model_dir, lora=False), str(tiny_model_dir), need_reference=False)
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    lp, ent = token_logprobs(policy.model, ids, mask, temperature=0.7, with_entropy=True)
    logits = policy.model(ids[:1]).logits[0].float() / 0.7
    expected = torch.log_softmax(logits[1], -1)[7]  # token at t=2 predicted from position 1
    torch.testing.assert_close(lp[0, 2], expected, rtol=1e-5, atol=1e-5)
    assert lp[:, 0].abs().sum() == 0 and (ent[:, 1:] > 0).all()
    assert not ent.requires_grad


def test_merged_state_dict_matches_merged_model(tiny_model_dir):
    policy = load_policy(_cfg(tiny_model_dir, lora=True), str(tiny_model_dir), need_reference=False)
    _train_a_bit(policy)
    merged = merged_state_dict(policy.model)
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert set(merged) == set(plain.state_dict())
    plain.load_state_dict(merged)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    torch.testing.assert_close(plain(ids).logits, policy.model(ids).logits, rtol=1e-4, atol=1e-4)


def test_merge_from_a_gathered_state_equals_the_module_merge(tiny_model_dir):
    """The sharded vLLM sync merges from a gathered full state dict (rlhf.runtime.sharding); on the
    model's own state dict that path must give the module path's weights exactly."""
    from rlhf.models.policy import merged_from_state

    policy = load_policy(_cfg(tiny_model_dir, lora=True), str(tiny_model_dir), need_reference=False)
    _train_a_bit(policy)
    expected = merged_state_dict(policy.model)
    got = merged_from_state(policy.model, {k: v.detach() for k, v in policy.model.state_dict().items()})
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert any("q_proj" in k for k in got) and not any("lora_" in k for k in got)


def test_mismatched_tokenizer_is_refused(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from rlhf.models.tiny import train_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    big = train_tokenizer(["some words " * 50, "other text 12345 " * 50], vocab_size=2000)
    big.add_tokens([f"<extra{i}>" for i in range(model.config.vocab_size)])
    with pytest.raises(ValueError, match="tokenizer and model do not match"):
        check_tokenizer(model, big)
    big.save_pretrained(tmp_path / "tok")
    cfg = dataclasses.replace(
        _cfg(tiny_model_dir, lora=False),
        model=ModelSection(path=str(tiny_model_dir), tokenizer=str(tmp_path / "tok")),
    )
    with pytest.raises(ValueError, match="do not match"):
        load_policy(cfg, str(tiny_model_dir), need_reference=False)


def test_resolve_model_path(tmp_path, tiny_model_dir):
    cfg = RunConfig(trainer="grpo", model=ModelSection(path="tiny"))
    out = resolve_model_path(cfg, tmp_path, ["Compute 3 + 4. <think>3 + 4 = 7</think><answer>7</answer>"])
    assert (tmp_path / "tiny_model" / "config.json").is_file() and out == str(tmp_path / "tiny_model")
    assert resolve_model_path(cfg, tmp_path) == out  # reused (resume)
    assert resolve_model_path(
        RunConfig(trainer="grpo", model=ModelSection(path=str(tiny_model_dir))), tmp_path
    ) == str(tiny_model_dir)
    with pytest.raises(ValueError, match="model.path must be set"):
        resolve_model_path(RunConfig(trainer="grpo"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without config.json"):
        resolve_model_path(
            RunConfig(trainer="grpo", model=ModelSection(path=str(tmp_path / "empty"))), tmp_path
        )


def test_logprobs_from_a_start_column_equal_the_full_ones(tiny_model_dir):
    from rlhf.models.policy import first_response_column

    policy = load_policy(_cfg(tiny_model_dir, lora=True), str(tiny_model_dir), need_reference=False)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    response = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]])
    assert first_response_column(response) == 2
    full, ent_full = token_logprobs(policy.model, ids, mask, 0.9, with_entropy=True)
    part, ent_part = token_logprobs(policy.model, ids, mask, 0.9, with_entropy=True, start=2)
    torch.testing.assert_close(part[:, 2:], full[:, 2:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent_part[:, 2:], ent_full[:, 2:], rtol=1e-5, atol=1e-5)
    assert part[:, :2].abs().sum() == 0


def test_one_apply_lora_for_the_prm_classifier_trains_adapters_and_head(tiny_model_dir):
    from rewards.prm.model import load_backbone
    from rlhf.models.policy import apply_lora

    model = apply_lora(load_backbone(tiny_model_dir), _cfg(tiny_model_dir, lora=True), task_type="TOKEN_CLS")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "score" in n for n in trainable)
    assert any("score" in n for n in trainable)  # the head, through peft's modules_to_save
    bad = dataclasses.replace(
        _cfg(tiny_model_dir, lora=True), lora=LoraSection(enabled=True, target_modules=("qkv",))
    )
    with pytest.raises(ValueError, match="'qkv' not in the model"):
        apply_lora(load_backbone(tiny_model_dir), bad, task_type="TOKEN_CLS")


def test_continued_adapter_is_the_reference_not_the_bare_base(tiny_model_dir, tmp_path):
    """GRPO after LoRA SFT: the reference is base + the SFT adapter (first-step KL 0), frozen while
    the continued copy trains, and only the trained adapter is saved."""
    from rlhf.models.adapters import save_final
    from rlhf.runtime.rundir import RunDir

    sft_cfg = _cfg(tiny_model_dir, lora=True)
    sft_cfg = dataclasses.replace(sft_cfg, lora=dataclasses.replace(sft_cfg.lora, dropout=0.1))
    sft = load_policy(sft_cfg, str(tiny_model_dir), need_reference=False)
    _train_a_bit(sft, steps=3)
    sft.model.eval()  # an "SFT" adapter that moves the logits away from the base
    sft.model.save_pretrained(tmp_path / "sft_adapter")
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    mask = torch.ones_like(ids)
    sft_lp = token_logprobs(sft.model, ids, mask)[0].detach()
    with sft.model.disable_adapter():
        base_lp = token_logprobs(sft.model, ids, mask)[0].detach()
    assert not torch.allclose(sft_lp, base_lp, atol=1e-3)

    cfg = _cfg(tiny_model_dir, lora=True)
    cfg = dataclasses.replace(
        cfg, lora=dataclasses.replace(cfg.lora, adapter_path=str(tmp_path / "sft_adapter"))
    )
    policy = load_policy(cfg, str(tiny_model_dir), need_reference=False)
    policy.model.train()  # the SFT adapter's dropout 0.1 gives way to the run's lora.dropout 0
    ref0 = reference_logprobs(policy, policy.model, ids, mask, 1.0)
    now0 = token_logprobs(policy.model, ids, mask)[0]
    torch.testing.assert_close(ref0, now0.detach())  # KL to the reference is 0 at the first step
    torch.testing.assert_close(ref0, sft_lp)  # ... because the reference is the SFT model
    trainable = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and ".default." in n for n in trainable)

    _train_a_bit(policy)
    assert {n for n, p in policy.model.named_parameters() if p.requires_grad} == trainable  # flags kept
    ref1 = reference_logprobs(policy, policy.model, ids, mask, 1.0)
    torch.testing.assert_close(ref1, sft_lp)  # the reference did not move
    assert not torch.allclose(token_logprobs(policy.model, ids, mask)[0], ref1)  # the policy did

    saved = save_final(RunDir(tmp_path / "run"), policy.model, policy.tokenizer, lora=True)
    assert (saved / "adapter_model.safetensors").is_file() and not (saved / "reference").exists()
