"""The shipped SFT recipes run as written, with tiny settings, through `cotrl train`;
GRPO continues from the SFT stage's adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rlhf.cli.main import main

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TINY = [
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=1",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=320",
]
FAST = [
    "sft.max_steps=2",
    "sft.batch_size=4",
    "sft.eval_max_items=3",
    "sft.eval_max_new_tokens=8",
    "sft.eval_every=1",
    "run.device=cpu",
    "sft.max_length=256",
]


def _result(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


@pytest.mark.slow
def test_sft_warmstart_recipe(tmp_path, repo_root, capsys):
    out = tmp_path / "ws"
    rc = main(
        [
            "train",
            str(repo_root / "recipes/sft_warmstart.yaml"),
            f"run.output_dir={out}",
            "sft.generate.n=24",
            "sft.generate.val_n=3",
            *TINY,
            *FAST,
        ]
    )
    assert rc == 0
    res = _result(capsys)
    assert res["steps"] == 2 and res["heldout_items"] == 3 and res["general_examples"] == 0
    assert (out / "model" / "config.json").is_file() and (out / "tiny_model" / "tokenizer.json").is_file()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["step"] for r in rows if "heldout_accuracy" in r} == {0, 2}  # test split: before, after
    assert {r["step"] for r in rows if "val_accuracy" in r} == {1}  # validation: during (eval_every=1)


@pytest.mark.slow
def test_sft_lora_domain_then_grpo_from_its_adapter(tmp_path, repo_root, tiny_model_dir, capsys):
    from safetensors.torch import load_file

    sft_out = tmp_path / "sft"
    rc = main(
        [
            "train",
            str(repo_root / "recipes/sft_lora_domain.yaml"),
            f"run.output_dir={sft_out}",
            f"model.path={tiny_model_dir}",
            "sft.generate.n=12",
            "sft.general_generate.n=12",
            *FAST,
        ]
    )
    assert rc == 0
    res = _result(capsys)
    assert res["domain_examples"] == 12 and res["general_examples"] == 12 and res["domain_fraction"] == 0.5
    assert res["eval_metric"] == "math_answer" and set(res["outputs"]) == {"adapter", "merged"}
    sft_adapter = load_file(str(sft_out / "adapter" / "adapter_model.safetensors"))
    cfg = json.loads((sft_out / "adapter" / "adapter_config.json").read_text())
    assert (cfg["r"], cfg["lora_alpha"], cfg["lora_dropout"]) == (16, 32, 0.1)
    assert sorted(cfg["target_modules"]) == sorted(ALL_LINEAR)

    grpo_out = tmp_path / "grpo"
    rc = main(
        [
            "train",
            str(repo_root / "recipes/grpo_lora_domain.yaml"),
            f"run.output_dir={grpo_out}",
            f"model.path={tiny_model_dir}",
            f"lora.adapter_path={sft_out / 'adapter'}",
            "train.steps=1",
            "train.lr=1e-6",
            "data.prompts_per_step=2",
            "rollout.n=2",
            "rollout.max_new_tokens=8",
        ]
    )
    assert rc == 0
    grpo_adapter = load_file(str(grpo_out / "adapter" / "adapter_model.safetensors"))
    assert not (grpo_out / "model").exists()  # a LoRA run leaves its adapter in adapter/, as SFT does
    b_keys = [k for k in sft_adapter if "lora_B" in k]
    assert b_keys and any(sft_adapter[k].abs().sum() > 0 for k in b_keys)
    for (
        k
    ) in b_keys:  # started from the SFT adapter (a fresh adapter's B would be zero), moved at most a little
        torch.testing.assert_close(grpo_adapter[k], sft_adapter[k], atol=1e-3, rtol=0)


def test_recipes_parse_with_the_issue_defaults(repo_root):
    from rlhf.trainers.checks import load_recipe

    dom = load_recipe(repo_root / "recipes/sft_lora_domain.yaml")
    assert (dom.lora.r, dom.lora.alpha, dom.lora.dropout, dom.lora.target_modules) == (
        16,
        32,
        0.1,
        ALL_LINEAR,
    )
    assert dom.train.lr_scheduler == "cosine" and dom.sft.domain_ratio >= 0.3 and dom.sft.completion_only_loss
    ws = load_recipe(repo_root / "recipes/sft_warmstart.yaml")
    assert ws.model.path == "tiny" and not ws.lora.enabled and ws.sft.generate.task == "integer_arithmetic"
    grpo = load_recipe(repo_root / "recipes/grpo_lora_domain.yaml")
    assert grpo.lora.adapter_path == "runs/sft_lora_domain/adapter" and grpo.model.path == dom.model.path
    assert Path(repo_root / "recipes/sft_warmstart.yaml").read_text().startswith("# ")
