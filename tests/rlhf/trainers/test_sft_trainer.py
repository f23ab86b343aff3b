"""The SFT trainer end to end on the tiny model: LoRA, merge/export, full finetune, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.runtime.rundir import prepare_run_dir
from tests.rlhf.trainers.runtime_helpers import same_weights

ROWS = [
    {
        "prompt": f"What is {a} + {b}?",
        "completion": f"<think>\n{a} + {b} = {a + b}\n</think>\n<answer>{a + b}</answer>",
    }
    for a in range(8)
    for b in range(5)
]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("sftdata") / "train.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return p


def make_cfg(
    out: Path, model: Path | str, data: Path, lora: dict | None = None, train: dict | None = None, **sft
) -> RunConfig:
    raw = {
        "trainer": "sft",
        "run": {"output_dir": str(out), "device": "cpu", "log_every": 1},
        "model": {"path": str(model)},
        "lora": lora or {"enabled": False},
        "train": {"lr": 1e-2, **(train or {})},
        "sft": {
            "train_path": str(data),
            "max_steps": 3,
            "batch_size": 4,
            "eval_max_items": 4,
            "eval_max_new_tokens": 8,
            "eval_fraction": 0.1,
            "max_length": 64,
            **sft,
        },
    }
    return config.from_dict(RunConfig, raw)


def train(cfg: RunConfig) -> tuple[dict, Path]:
    from rlhf.trainers.sft import run

    rd = prepare_run_dir(cfg, cfg.run.output_dir)
    return run(cfg, rd), rd.root


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(path.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


LORA = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model_dir, data_file):
    out = tmp_path_factory.mktemp("lora") / "run"
    return train(make_cfg(out, tiny_model_dir, data_file, LORA, save="both"))


@pytest.mark.slow
def test_lora_changes_only_adapter_weights(lora_run, tiny_model_dir):
    result, root = lora_run
    adapter = _weights(root / "adapter")
    assert adapter and all("lora_A" in k or "lora_B" in k for k in adapter)
    assert result["trainable_params"] == sum(v.numel() for v in adapter.values())
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # B starts at zero: it trained
    base, merged = _weights(tiny_model_dir), _weights(root / "merged")
    assert base.keys() == merged.keys()
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(".q_proj.weight" in k or ".v_proj.weight" in k for k in changed), changed
    lines = [json.loads(x) for x in (root / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in lines) and any("heldout_accuracy" in r for r in lines)
    assert result["steps"] == 3 and 0.0 <= result["heldout_accuracy_after"] <= 1.0
    assert (root / "plots" / "sft.png").stat().st_size > 0


@pytest.mark.slow
def test_export_gives_base_plus_adapter_logits(lora_run, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rlhf.cli.main import main

    _, root = lora_run
    out = tmp_path / "exported"
    assert main(["export", str(root), str(out)]) == 0
    assert not list(out.glob("adapter_*")) and (out / "tokenizer.json").is_file()
    ids = torch.tensor([[5, 17, 33, 2, 9, 41, 7]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base_logits = _logits(base, ids)
    with_adapter = _logits(PeftModel.from_pretrained(base, str(root / "adapter")), ids)
    exported = _logits(AutoModelForCausalLM.from_pretrained(out), ids)
    assert not torch.allclose(base_logits, with_adapter, atol=1e-4)
    torch.testing.assert_close(exported, with_adapter, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(root / "merged"), ids), exported)
    assert main(["export", str(root), str(out)]) == 2  # refuses to overwrite without --overwrite


@pytest.mark.slow
def test_full_finetune_saves_a_changed_model(tmp_path, tiny_model_dir, data_file):
    from transformers import AutoModelForCausalLM

    result, root = train(make_cfg(tmp_path / "full", tiny_model_dir, data_file, max_steps=2))
    assert set(result["outputs"]) == {"model"} and not (root / "adapter").exists()
    base, new = _weights(tiny_model_dir), _weights(root / "model")
    assert sum(not torch.equal(base[k], new[k]) for k in base) > len(base) // 2
    AutoModelForCausalLM.from_pretrained(root / "model")  # loads as a plain HF dir
    assert result["trainable_params"] == sum(v.numel() for v in base.values())


def test_missing_target_modules_listed_before_training(tmp_path, tiny_model_dir, data_file):
    cfg = make_cfg(
        tmp_path / "bad", tiny_model_dir, data_file, {**LORA, "target_modules": ["q_proj", "query_key_value"]}
    )
    with pytest.raises(ValueError) as info:
        train(cfg)
    msg = str(info.value)
    assert "'query_key_value' not in the model" in msg
    assert (
        "its linear modules are: down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"
        in msg
    )
    assert not (tmp_path / "bad" / "adapter").exists() and not (tmp_path / "bad" / "metrics.jsonl").exists()


def test_bad_data_fails_before_model_load(tmp_path, data_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x"}) + "\n")
    cfg = make_cfg(tmp_path / "r", "does/not-exist-anywhere", bad)
    with pytest.raises(
        ValueError, match=r"bad.jsonl \(prompt_completion form\): row 1 of 1: missing column 'completion'"
    ):
        train(cfg)
    empty = tmp_path / "empty.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": pa.array([], pa.string())}), empty)
    with pytest.raises(ValueError, match="empty.parquet: no rows"):
        train(make_cfg(tmp_path / "r2", "x", empty))
    with pytest.raises(ValueError, match="asks for general data but none was given"):
        train(make_cfg(tmp_path / "r3", "x", data_file, domain_ratio=0.5))


def test_qlora_is_refused_on_cpu(tmp_path, tiny_model_dir, data_file):
    if torch.cuda.is_available():
        pytest.skip("QLoRA runs on this machine")
    cfg = make_cfg(tmp_path / "q", tiny_model_dir, data_file, LORA, qlora=True)
    with pytest.raises(ValueError, match="sft.qlora=true needs a CUDA GPU"):
        train(cfg)
    with pytest.raises(ValueError, match="needs lora.enabled=true"):
        train(make_cfg(tmp_path / "q2", tiny_model_dir, data_file, qlora=True))


def test_completion_only_loss_masks_the_prompt(tiny_model_dir):
    """TRL's collator puts -100 on every prompt token, and trains on the assistant turn and its end token."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from rlhf.data.readers import examples_from_rows

    ex = examples_from_rows(ROWS[:2], "rows")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        args=SFTConfig(
            output_dir="/tmp/unused-sft",
            completion_only_loss=True,
            use_cpu=True,
            report_to="none",
            max_length=128,
        ),
        train_dataset=Dataset.from_list([e.to_record() for e in ex]),
        processing_class=tok,
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0]
    trained = tok.decode(labels[labels != -100])
    assert (
        trained.startswith("<think>") and trained.endswith("<|im_end|>\n") or trained.endswith("<|im_end|>")
    )
    assert "What is" not in trained


@pytest.mark.slow
def test_a_killed_sft_run_resumes_to_the_same_weights(tmp_path, tiny_model_dir, data_file):
    """Full run of 4 steps vs the same run stopped after its step-2 checkpoint and resumed."""
    import shutil

    from rlhf.trainers.sft import run

    def cfg(out: Path) -> RunConfig:
        c = make_cfg(out, tiny_model_dir, data_file, max_steps=4, eval_every=0)
        return config.from_dict(
            RunConfig,
            {
                **config.to_dict(c),
                "run": {**config.to_dict(c)["run"], "save_every": 2, "keep_checkpoints": 3},
            },
        )

    _, full = train(cfg(tmp_path / "full"))
    _, cut = train(cfg(tmp_path / "cut"))
    # what a kill between the step-2 and step-4 checkpoints leaves behind: no later checkpoint, no model
    shutil.rmtree(cut / "checkpoints" / "checkpoint-4")
    shutil.rmtree(cut / "model")
    c = cfg(tmp_path / "cut")
    logged = len((cut / "metrics.jsonl").read_text().splitlines())
    result = run(c, prepare_run_dir(c, c.run.output_dir, resume=True))
    assert result["steps"] == 4
    after = [json.loads(x) for x in (cut / "metrics.jsonl").read_text().splitlines()[logged:]]
    trained = [r["step"] for r in after if "loss" in r]
    assert trained == [3, 4], after  # it went on from the checkpoint; it did not start again
    a, b = _weights(full / "model"), _weights(cut / "model")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)


# ----------------------------------------------------------------------------- the shared runtime


def _one_step(tmp_path: Path, name: str, model: Path, data: Path, **train_knobs) -> dict[str, torch.Tensor]:
    cfg = make_cfg(tmp_path / name, model, data, train=train_knobs, max_steps=1, eval_max_items=0)
    _, root = train(cfg)
    return _weights(root / "model")


@pytest.mark.slow
def test_max_grad_norm_is_honoured(tmp_path, tiny_model_dir, data_file):
    """0 only measures the norm (a huge limit gives the same weights, bit for bit); a tiny limit
    shrinks the first AdamW step below eps and so changes the update."""
    off = _one_step(tmp_path, "off", tiny_model_dir, data_file, max_grad_norm=0.0)
    huge = _one_step(tmp_path, "huge", tiny_model_dir, data_file, max_grad_norm=1e9)
    tiny = _one_step(tmp_path, "tiny", tiny_model_dir, data_file, max_grad_norm=1e-7)
    base = _weights(tiny_model_dir)
    assert same_weights(off, huge) and not same_weights(off, base)
    assert not same_weights(tiny, off)
    moved = lambda w: sum(float((w[k] - base[k]).abs().sum()) for k in base)  # noqa: E731
    assert moved(tiny) < moved(off) / 10  # clipped to 1e-7 the step is far smaller
    logged = [json.loads(x) for x in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert [r["grad_norm"] for r in logged if "grad_norm" in r][0] > 1.0  # the norm before clipping


def test_a_non_finite_loss_skips_the_update_and_stops_after_max_bad_steps(tmp_path, nan_model_dir, data_file):
    from rlhf.runtime.optim import RunStopped

    cfg = make_cfg(
        tmp_path / "nan", nan_model_dir, data_file, train={"max_bad_steps": 2}, max_steps=4, eval_max_items=0
    )
    with pytest.raises(
        RunStopped,
        match=r"stopped at step 2: 2 steps in a row had a non-finite loss \(train.max_bad_steps=2\)",
    ):
        train(cfg)
    root = tmp_path / "nan"
    rows = [json.loads(x) for x in (root / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("skipped_update")] == [1, 2]
    saved = _weights(root / "checkpoints" / "checkpoint-2")  # the stop writes a checkpoint...
    assert same_weights(saved, _weights(nan_model_dir))  # ...of weights no skipped update touched
    assert not (root / "model").exists()


@pytest.mark.slow
def test_shared_optimizer_and_schedule_give_the_weights_transformers_gave(
    tmp_path, tiny_model_dir, data_file
):
    """The SFT trainer's numbers did not move: transformers building AdamW (fused), the cosine
    schedule and clipping from SFTConfig, as the sft trainer configured it before the shared
    runtime, and `train:` through rlhf.runtime.optim give bit-identical weights after 4 steps."""
    import dataclasses

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed
    from trl import SFTTrainer

    from rlhf.models.policy import load_tokenizer
    from rlhf.trainers.sft import prepare_data, sft_args

    knobs = {"warmup_ratio": 0.25, "min_lr_ratio": 0.0, "optimizer": "adamw_fused", "max_grad_norm": 0.5}
    cfg = make_cfg(tmp_path / "new", tiny_model_dir, data_file, train=knobs, max_steps=4, eval_max_items=0)
    _, root = train(cfg)

    set_seed(cfg.run.seed)
    data = prepare_data(cfg)
    run_dir = prepare_run_dir(cfg, tmp_path / "old")
    args = dataclasses.replace(
        sft_args(cfg, run_dir, False), lr_scheduler_type="cosine", warmup_steps=1, max_grad_norm=0.5
    )
    assert args.optim == "adamw_torch_fused" and args.learning_rate == 1e-2
    old = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        args=args,
        train_dataset=Dataset.from_list([e.to_record() for e in data.train]),
        processing_class=load_tokenizer(cfg, str(tiny_model_dir)),
    )
    old.train()
    new = _weights(root / "model")
    assert same_weights({k: v.detach() for k, v in old.model.state_dict().items() if k in new}, new)
