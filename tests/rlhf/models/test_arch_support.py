"""What makes any architecture trainable: LoRA targets, chat templates and end-of-turn tokens,
the variants the tiny zoo covers, and model directories refused in one line."""

from __future__ import annotations

import json

import pytest
import torch

from rlhf.config.loader import ConfigError, from_dict
from rlhf.config.recipe import RunConfig
from rlhf.models.chat import prepare_chat, turn_end_token
from rlhf.models.lora_targets import linear_module_names, resolve_targets
from rlhf.models.tiny import DEFAULT_CORPUS, EOS_TOKEN, train_tokenizer
from rlhf.models.tiny_archs import ARCHS, build_tiny_arch, tiny_config

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(DEFAULT_CORPUS, vocab_size=320)


def gemma_tokenizer():
    t = train_tokenizer(DEFAULT_CORPUS, vocab_size=320)
    t.add_special_tokens(
        {
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
        }
    )
    t.chat_template = GEMMA_TEMPLATE
    return t


def llama3_tokenizer():
    t = train_tokenizer(DEFAULT_CORPUS, vocab_size=320)
    specials = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    t.add_special_tokens(
        {
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|end_of_text|>",
            "additional_special_tokens": specials,
        }
    )
    t.chat_template = LLAMA3_TEMPLATE
    return t


def _model(arch: str, tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_config(arch, tokenizer))


# ----------------------------------------------------------------------------- LoRA targets

MOE = {"qwen3_moe", "mixtral", "deepseek_v3"}
DEFAULTS = {
    "phi3": ["qkv_proj", "o_proj"],
    "deepseek_v3": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
}


@pytest.mark.parametrize("arch", ARCHS)
def test_default_targets_all_linear_and_refusal_for_every_architecture(arch, tok):
    from peft import LoraConfig, get_peft_model

    model = _model(arch, tok)
    assert resolve_targets(model, ()) == DEFAULTS.get(arch, ["q_proj", "v_proj"])
    with pytest.raises(ValueError, match=r"'query_key_value' not in the model .*its linear modules are: "):
        resolve_targets(model, ("query_key_value",))
    assert resolve_targets(model, ("o_proj",)) == ["o_proj"]  # every zoo model has an o_proj
    linear = set(linear_module_names(model))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=resolve_targets(model, "all-linear")))
    adapted = {n.rsplit(".", 1)[-1] for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert "lm_head" not in adapted and {"o_proj"} <= adapted
    if arch not in MOE:  # every linear layer but the head
        assert adapted == linear - {"lm_head"}
    else:  # peft's own choice on MoE blocks: attention, routers, routed experts' weights
        assert adapted - linear <= {"experts", "gate", "base_layer"}


def test_default_refused_when_the_model_has_none_of_it(tok):
    from transformers import MptConfig, MptForCausalLM

    model = MptForCausalLM(MptConfig(d_model=64, n_heads=1, n_layers=1, vocab_size=len(tok)))
    with pytest.raises(ValueError, match="lora.target_modules is not set .*Wqkv.*all-linear"):
        resolve_targets(model, ())


def test_target_modules_setting_parses():
    assert from_dict(RunConfig, {"trainer": "grpo"}).lora.target_modules == ()
    cfg = from_dict(RunConfig, {"trainer": "grpo", "lora": {"target_modules": "all-linear"}})
    assert cfg.lora.target_modules == "all-linear"
    with pytest.raises(ConfigError, match="lora.target_modules"):
        from_dict(RunConfig, {"trainer": "grpo", "lora": {"target_modules": "everything"}})


# ----------------------------------------------------------------------------- chat template, end of turn


def test_the_tokenizers_own_template_and_end_of_turn_token():
    from rlhf.rollout.hf import _eos_ids
    from rlhf.rollout.vllm_server import template_stop_ids

    for make, end, opener in (
        (gemma_tokenizer, "<end_of_turn>", "<start_of_turn>model\n"),
        (llama3_tokenizer, "<|eot_id|>", "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ):
        t = make()
        model = _model("llama", t)  # its config stops on the tokenizer's original eos only
        assert turn_end_token(t) == end and t.eos_token != end
        prepare_chat(t)
        assert t.eos_token == end and t.chat_template in (GEMMA_TEMPLATE, LLAMA3_TEMPLATE)
        text = t.apply_chat_template(
            [{"role": "user", "content": "Add 2"}], tokenize=False, add_generation_prompt=True
        )
        assert text.endswith(opener)
        eot = t.convert_tokens_to_ids(end)
        assert eot in _eos_ids(model, t)  # the transformers sampler stops on it
        assert template_stop_ids(model, t) == [eot]  # and vLLM is told to


def test_project_template_for_a_tokenizer_without_one_and_project_tokenizer_unchanged(tok):
    from rlhf.models.tiny import CHAT_TEMPLATE

    bare = train_tokenizer(DEFAULT_CORPUS, vocab_size=320)
    bare.chat_template = None
    prepare_chat(bare)
    assert bare.chat_template == CHAT_TEMPLATE and bare.eos_token == EOS_TOKEN
    before = (tok.chat_template, tok.eos_token, tok.pad_token)
    prepare_chat(tok)
    assert (tok.chat_template, tok.eos_token, tok.pad_token) == before


@pytest.mark.slow
def test_gemma_template_model_trains_sft_and_grpo_ending_turns_with_its_token(tmp_path):
    """SFT appends the template's end-of-turn token and saves it as eos; GRPO prompts use the template."""
    from transformers import AutoTokenizer

    from rlhf.cli.main import main

    model = build_tiny_arch("gemma3", tmp_path / "gemma", tokenizer=gemma_tokenizer())
    data = tmp_path / "sft.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"Add {a}", "completion": f"{a + 1}"}) + "\n" for a in range(8))
    )
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(
        f"trainer: sft\nrun: {{output_dir: {tmp_path / 'run'}, device: cpu}}\nmodel: {{path: {model}}}\n"
        "lora: {enabled: true, r: 2, alpha: 4}\ntrain: {lr: 1.0e-3, cpu_threads: 1}\n"
        f"sft: {{train_path: {data}, max_steps: 1, batch_size: 4, eval_max_items: 1, eval_max_new_tokens: 2}}\n"
    )
    assert main(["train", str(recipe)]) == 0
    saved = AutoTokenizer.from_pretrained(tmp_path / "run" / "adapter")
    assert saved.eos_token == "<end_of_turn>"


# ----------------------------------------------------------------------------- variants the zoo covers


def test_zoo_covers_tied_untied_rope_scaling_and_sliding_windows(tok):
    configs = {a: tiny_config(a, tok) for a in ARCHS}
    tied = {a for a, c in configs.items() if c.tie_word_embeddings}
    assert {"qwen2", "qwen3", "gemma3"} <= tied and {"llama", "phi3", "deepseek_v3"}.isdisjoint(tied)
    assert configs["llama"].rope_parameters["rope_type"] == "llama3"
    assert configs["qwen3"].rope_parameters["rope_type"] == "yarn"
    assert configs["mistral"].sliding_window == 32
    assert configs["gemma3"].layer_types == ["sliding_attention", "full_attention"]
    assert configs["deepseek_v3"].q_lora_rank and configs["deepseek_v3"].first_k_dense_replace == 1
    for arch in ("qwen2", "llama"):  # tied embeddings share one tensor, untied ones do not
        m = _model(arch, tok)
        same = m.lm_head.weight.data_ptr() == m.get_input_embeddings().weight.data_ptr()
        assert same == (arch == "qwen2")


@pytest.mark.slow
@pytest.mark.parametrize("dtype,mixed", [("bfloat16", "no"), ("float32", "bf16")])
def test_bf16_weights_load_on_cpu_and_train(dtype, mixed, tmp_path):
    """A checkpoint saved in bf16 trains in bf16 (model.dtype) or in fp32 under bf16 autocast."""
    from safetensors.torch import load_file

    from rlhf.cli.main import main
    from tests.rlhf.trainers.rl_helpers import write_problems

    model = build_tiny_arch("llama", tmp_path / "llama-bf16", dtype=torch.bfloat16)
    assert all(v.dtype == torch.bfloat16 for v in load_file(str(model / "model.safetensors")).values())
    data = write_problems(tmp_path / "p.jsonl", n=4)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"trainer: grpo\nrun: {{output_dir: {tmp_path / 'run'}, device: cpu, seed: 1}}\n"
        f"model: {{path: {model}, dtype: {dtype}}}\n"
        f"data: {{source: jsonl, path: {data}, prompts_per_step: 2}}\n"
        "rollout: {backend: transformers, n: 2, max_new_tokens: 6}\n"
        "rewards:\n  - name: tests.e2e.test_architectures:char_variety\n"
        f"train: {{steps: 1, lr: 1.0e-2, cpu_threads: 1, mixed_precision: '{mixed}'}}\n"
    )
    assert main(["train", str(recipe)]) == 0
    after = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    before = load_file(str(model / "model.safetensors"))
    assert {v.dtype for v in after.values()} == {getattr(torch, dtype)}
    assert any(not torch.equal(before[k].float(), after[k].float()) for k in before)


# ----------------------------------------------------------------------------- bad model directories


def _refused(tmp_path, capsys, model_dir, *extra: str) -> str:
    from rlhf.cli.main import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"trainer: sft\nrun: {{output_dir: {tmp_path / 'run'}, device: cpu}}\nmodel: {{path: {model_dir}}}\n"
        f"sft: {{train_path: {tmp_path / 'd.jsonl'}, max_steps: 1}}\n"
    )
    (tmp_path / "d.jsonl").write_text((json.dumps({"prompt": "a", "completion": "b"}) + "\n") * 20)
    capsys.readouterr()
    rc = main(["train", str(recipe), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert rc == 2 and len(err) == 1, err
    assert not (tmp_path / "run").exists()  # nothing written
    return err[0]


def test_model_dir_without_tokenizer_or_with_unknown_config_or_missing_target(tmp_path, capsys, tok):
    model = build_tiny_arch("phi3", tmp_path / "phi3", tokenizer=tok)
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        (bare / f).write_bytes((model / f).read_bytes())
    assert "has no tokenizer" in _refused(tmp_path, capsys, bare)

    alien = tmp_path / "alien"
    alien.mkdir()
    (alien / "config.json").write_text(json.dumps({"model_type": "not_a_model", "architectures": ["X"]}))
    assert "model_type 'not_a_model'" in _refused(tmp_path, capsys, alien)

    line = _refused(tmp_path, capsys, model, "lora.enabled=true", "lora.target_modules=[q_proj]")
    assert "'q_proj' not in the model (Phi3ForCausalLM)" in line and "qkv_proj" in line
