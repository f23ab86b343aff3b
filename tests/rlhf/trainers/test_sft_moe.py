"""A mixture-of-experts model (tiny Qwen2-MoE config) trains through LoRA SFT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.runtime.rundir import prepare_run_dir


def build_tiny_moe(out: Path) -> Path:
    from transformers import AutoModelForCausalLM, Qwen2MoeConfig

    from rlhf.models.tiny import DEFAULT_CORPUS, train_tokenizer

    tok = train_tokenizer(DEFAULT_CORPUS, vocab_size=400)
    cfg = Qwen2MoeConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=64,
        num_experts=4,
        num_experts_per_tok=2,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        decoder_sparse_step=1,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        output_router_logits=True,
        router_aux_loss_coef=0.01,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_sampler_decodes_an_moe_model_that_returns_router_logits(tmp_path):
    """Router logits (training's aux loss) break under a KV cache; the sampler switches them off."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlhf.rollout.base import SamplingParams
    from rlhf.rollout.hf import HFSampler

    model_dir = build_tiny_moe(tmp_path / "moe")
    model, tok = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    assert model.config.output_router_logits
    prompts = [tok("Compute 3 * 4.").input_ids, tok("Add 2").input_ids]
    params = SamplingParams(max_new_tokens=6, temperature=0.0)
    out = HFSampler(model, tok).generate(prompts, params)
    model.config.output_router_logits = False  # what the logits are without the aux-loss outputs
    assert [c[0].token_ids for c in out] == [
        c[0].token_ids for c in HFSampler(model, tok).generate(prompts, params)
    ]
    assert all(len(c[0].token_ids) >= 1 for c in out)


@pytest.mark.slow
def test_qwen2_moe_lora_sft(tmp_path):
    from safetensors.torch import load_file

    model_dir = build_tiny_moe(tmp_path / "moe")
    rows = [
        {
            "prompt": f"Compute {a} * 3.",
            "completion": f"<think>\n{a} * 3 = {3 * a}\n</think>\n<answer>{3 * a}</answer>",
        }
        for a in range(20)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config.from_dict(
        RunConfig,
        {
            "trainer": "sft",
            "run": {"output_dir": str(tmp_path / "run"), "device": "cpu"},
            "model": {"path": str(model_dir)},
            "lora": {"enabled": True, "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
            "train": {"lr": 1e-2},
            "sft": {
                "train_path": str(data),
                "max_steps": 2,
                "batch_size": 4,
                "eval_max_items": 2,
                "eval_max_new_tokens": 4,
                "max_length": 64,
                "save": "both",
            },
        },
    )
    from rlhf.trainers.sft import run

    result = run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert result["steps"] == 2 and result["train_loss"] > 0
    adapter = load_file(str(tmp_path / "run" / "adapter" / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k for k in adapter)
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "merged")
    assert type(merged).__name__ == "Qwen2MoeForCausalLM"

    # and a GRPO step from the SFT adapter (the engine's trainer, through the shipped recipe); the
    # model still returns router logits for training, the sampler switches them off for decoding.
    from rlhf.cli.main import main

    assert json.loads((model_dir / "config.json").read_text())["output_router_logits"] is True
    grpo = tmp_path / "grpo"
    rc = main(
        [
            "train",
            str(Path(__file__).resolve().parents[3] / "recipes/grpo_lora_domain.yaml"),
            f"run.output_dir={grpo}",
            f"model.path={model_dir}",
            f"lora.adapter_path={tmp_path / 'run' / 'adapter'}",
            "train.steps=1",
            "data.prompts_per_step=2",
            "rollout.n=2",
            "rollout.max_new_tokens=6",
        ]
    )
    assert rc == 0 and (grpo / "adapter" / "adapter_config.json").is_file()
