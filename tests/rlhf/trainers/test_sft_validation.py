"""`sft.generate.val_n`: train-split items held out of training drive the in-training evaluation and
`sft.stop_at_accuracy`, so no stopping decision reads the test split the before/after numbers use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.config.supervised import SftGenerateSpec
from rlhf.runtime.rundir import prepare_run_dir

GEN = {"task": "integer_arithmetic", "n": 24, "seed": 0, "params": {"max_operands": 3, "max_digits": 1}}


def _cfg(out: Path, model: Path | str, **sft) -> RunConfig:
    raw = {
        "trainer": "sft",
        "run": {"output_dir": str(out), "device": "cpu", "log_every": 1},
        "model": {"path": str(model)},
        "lora": {"enabled": False},
        "train": {"lr": 1e-2},
        "sft": {"batch_size": 4, "max_length": 96, "eval_max_new_tokens": 8, **sft},
    }
    return config.from_dict(RunConfig, raw)


def _text(example) -> str:
    return json.dumps(example.prompt, sort_keys=True)


def test_stopping_on_the_generated_test_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"stop_at_accuracy.*val_n"):
        _cfg(tmp_path, "tiny", generate=GEN, stop_at_accuracy=0.3)
    with pytest.raises(ValueError, match=r"sft\.generate\.val_n must be >= 0, got -1"):
        SftGenerateSpec(task="integer_arithmetic", val_n=-1)


def test_val_items_are_train_split_never_trained_on_and_leave_training_unchanged(tmp_path):
    from rlhf.trainers.sft import prepare_data

    plain = prepare_data(_cfg(tmp_path, "tiny", generate=GEN, eval_max_items=5))
    data = prepare_data(
        _cfg(tmp_path, "tiny", generate={**GEN, "val_n": 6}, eval_max_items=5, stop_at_accuracy=0.3)
    )
    prompts = [_text(e) for e in data.train]
    assert prompts == [_text(e) for e in plain.train]  # the trained items are bit-identical
    assert [_text(e) for e in data.heldout] == [_text(e) for e in plain.heldout]
    val = [_text(e) for e in data.val]
    assert len(set(val)) == 6 and not set(val) & set(prompts)
    assert not set(val) & {_text(e) for e in data.heldout}
    assert data.stats["val_examples"] == 6 and "val_examples" not in plain.stats


@pytest.mark.slow
def test_stop_decision_reads_validation_items_only(tmp_path, tiny_model_dir):
    """stop_at_accuracy 0.0 stops at the first in-training evaluation (step 2 of 4); that
    evaluation scores the val items, while before/after score the test split."""
    from rlhf.eval.sft import heldout_problems
    from rlhf.trainers.sft import prepare_data, run

    cfg = _cfg(
        tmp_path / "run",
        tiny_model_dir,
        generate={**GEN, "val_n": 3},
        eval_max_items=4,
        eval_every=2,
        stop_at_accuracy=0.0,
        max_steps=4,
    )
    data = prepare_data(cfg)
    result = run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    assert result["steps"] == 2 and result["heldout_items"] == 4

    root = tmp_path / "run"
    samples = [json.loads(x) for x in (root / "samples.jsonl").read_text().splitlines()]
    scored = [(s["step"], s.get("set"), [x["prompt"] for x in s["samples"]]) for s in samples]
    assert [(step, kind) for step, kind, _ in scored] == [(0, None), (2, "validation"), (2, None)]
    test_prompts = [p.prompt for p in heldout_problems(data.heldout)]
    shown = len(scored[0][2])  # the samples logged per evaluation (the first items scored)
    assert shown and scored[0][2] == scored[2][2] == test_prompts[:shown]  # before/after: the test split
    assert scored[1][2] == [p.prompt for p in heldout_problems(data.val)]  # the stop: val items only
    metrics = [json.loads(x) for x in (root / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics if "val_accuracy" in r] == [2]
    assert [r["step"] for r in metrics if "heldout_accuracy" in r] == [0, 2]
