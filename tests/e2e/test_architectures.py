"""Every architecture the project claims, through every training path, on tiny random-init models.

The models come from transformers' own config classes (`rlhf.models.tiny_archs`: Llama, Mistral,
Qwen2, Qwen3, Gemma 3, Phi-3, OLMo 2, Qwen3-MoE, Mixtral, DeepSeek-V3) with the project's
tokenizer, so no hub is needed. Each path runs through `cotrl` itself (in process) for one or
two steps and asserts what the path is for: weights moved, only the adapter moved, the merged
export gives the base-plus-adapter logits, eval scores the items. Paths an architecture cannot
take are asserted to be refused with one clear line (`REFUSED`), and the README's table of
architectures x paths is the record of what this module passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rlhf.cli.main import main
from rlhf.models.tiny_archs import ARCHS, build_tiny_arch
from tests.rlhf.trainers.rl_helpers import write_problems

pytestmark = pytest.mark.slow  # each test is a whole `cotrl` run (2-7 s); the module takes ~3 min on 2 cores

MOE = {"qwen3_moe", "mixtral", "deepseek_v3"}


class CharVariety:
    """Outcome: distinct characters in the completion (random samples differ in it, so groups have variance)."""

    name = "char_variety"

    def __call__(self, problems, completions):
        return [len(set(c)) / 10.0 for c in completions]


def char_variety(**params):
    return CharVariety()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """arch -> a tiny model directory, built on first use and shared by the module's tests."""
    root = tmp_path_factory.mktemp("zoo")
    built: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in built:
            built[arch] = build_tiny_arch(arch, root / arch, seed=0)
        return built[arch]

    return get


@pytest.fixture(scope="module")
def problems(tmp_path_factory) -> Path:
    return write_problems(tmp_path_factory.mktemp("data") / "problems.jsonl", n=4)


def rl_recipe(tmp: Path, model: Path, data: Path, trainer: str, extra: str = "") -> Path:
    text = f"""trainer: {trainer}
run: {{output_dir: {tmp / "run"}, seed: 1, device: cpu}}
model: {{path: {model}}}
data: {{source: jsonl, path: {data}, prompts_per_step: 2}}
rollout: {{backend: transformers, n: 2, max_new_tokens: 6}}
rewards:
  - name: tests.e2e.test_architectures:char_variety
train: {{steps: 1, lr: 1.0e-2, cpu_threads: 1}}
{extra}"""
    path = tmp / "recipe.yaml"
    path.write_text(text)
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def _train(recipe: Path, *overrides: str) -> None:
    assert main(["train", str(recipe), *overrides]) == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_grpo_full_finetune_moves_the_weights(arch, zoo, problems, tmp_path):
    model = zoo(arch)
    _train(rl_recipe(tmp_path, model, problems, "grpo"))
    before, after = _weights(model), _weights(tmp_path / "run" / "model")
    assert set(after) >= {k for k in before if "lm_head" not in k}
    assert any(not torch.equal(before[k], after[k]) for k in before if k in after)


@pytest.mark.parametrize("arch", ARCHS)
def test_grpo_lora_then_export_merges_to_base_plus_adapter_then_eval(arch, zoo, problems, tmp_path, capsys):
    """GRPO with LoRA on the architecture's default targets; `cotrl export` folds the adapter in
    (merged logits == base + adapter logits); `cotrl eval` scores the merged model."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rlhf.models.lora_targets import ARCH_DEFAULTS, GENERIC_DEFAULT

    model = zoo(arch)
    _train(
        rl_recipe(tmp_path, model, problems, "grpo", "lora: {enabled: true, r: 4, alpha: 8, dropout: 0.0}")
    )
    adapter = tmp_path / "run" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    wanted = set(
        ARCH_DEFAULTS.get(AutoModelForCausalLM.from_pretrained(model).config.model_type, GENERIC_DEFAULT)
    )
    assert set(config["target_modules"]) and set(config["target_modules"]) <= wanted
    weights = _weights(adapter)
    assert weights and all("lora_" in k for k in weights)
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)  # the adapter trained

    merged_dir = tmp_path / "merged"
    assert main(["export", str(tmp_path / "run"), str(merged_dir)]) == 0
    ids = torch.tensor([[5, 17, 42, 7, 99, 3]])
    base = AutoModelForCausalLM.from_pretrained(model)
    with torch.no_grad():
        want = PeftModel.from_pretrained(base, str(adapter)).eval()(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged_dir).eval()(ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)

    capsys.readouterr()
    out = tmp_path / "eval.json"
    args = ["eval", str(merged_dir), "--data", str(problems), "--n", "2", "--max-new-tokens", "6"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_problems"] == 2 and 0.0 <= result["accuracy"] <= 1.0 and result["mean_length"] > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_ppo_trains_policy_and_critic(arch, zoo, problems, tmp_path):
    model = zoo(arch)
    extra = "algo: {advantage: gae, loss: ppo_clip}\nlora: {enabled: true, r: 4, alpha: 8, dropout: 0.0}"
    _train(rl_recipe(tmp_path, model, problems, "ppo", extra))
    rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 0 and any("value" in k for k in rec), sorted(rec)
    assert (tmp_path / "run" / "critic.pt").is_file()  # the critic's trained weights
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()


@pytest.mark.parametrize("arch", ARCHS)
def test_sft_all_linear_lora(arch, zoo, tmp_path):
    """SFT with `lora.target_modules: all-linear`: every linear layer but the head gets an adapter."""
    rows = [{"prompt": f"Compute {a} + 1.", "completion": f"<answer>{a + 1}</answer>"} for a in range(8)]
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(
        f"""trainer: sft
run: {{output_dir: {tmp_path / "run"}, device: cpu}}
model: {{path: {zoo(arch)}}}
lora: {{enabled: true, r: 4, alpha: 8, dropout: 0.0, target_modules: all-linear}}
train: {{lr: 1.0e-2, cpu_threads: 1}}
sft: {{train_path: {data}, max_steps: 2, batch_size: 4, eval_max_items: 1, eval_max_new_tokens: 4, max_length: 64}}
"""
    )
    _train(recipe)
    weights = _weights(tmp_path / "run" / "adapter")
    adapted = {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in weights if "lora_A" in k}
    assert "lm_head" not in adapted and len(adapted) >= 2, adapted
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)


@pytest.mark.parametrize("arch", ARCHS)
def test_prm_head(arch, zoo, tmp_path):
    recipe = tmp_path / "prm.yaml"
    recipe.write_text(
        f"""trainer: prm
run: {{output_dir: {tmp_path / "run"}, device: cpu}}
model: {{path: {zoo(arch)}}}
train: {{lr: 1.0e-3, cpu_threads: 1}}
prm: {{num_train: 4, num_eval: 2, epochs: 1, batch_size: 8, max_length: 96}}
"""
    )
    rc = main(["train", str(recipe)])
    assert rc == 0
    from transformers import AutoConfig

    from rewards.prm.model import PRMScorer

    scorer = PRMScorer.from_pretrained(tmp_path / "run" / "prm")
    # Gemma 3 text and OLMo 2: transformers' generic token classifier, registered by rewards.prm.model
    assert type(scorer.model).__name__.endswith("ForTokenClassification")
    assert scorer.model.config.model_type == AutoConfig.from_pretrained(zoo(arch)).model_type
    if arch in ("gemma3", "olmo2"):  # the registration is per process: a fresh one loads the PRM by name
        import subprocess
        import sys

        code = "import sys; from rewards.prm.model import PRMScorer; PRMScorer.from_pretrained(sys.argv[1])"
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "run" / "prm")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
