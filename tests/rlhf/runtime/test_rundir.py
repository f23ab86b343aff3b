"""The run-directory layout: what `RunDir.final_model` finds in each kind of run, and what it says
when there is nothing to find. Directories are laid out by hand (marker files only): the
trainers that write them for real are exercised in tests/e2e/test_run_layout.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf.runtime.rundir import CONFIG_NAME, RunDir, find_adapter


def _run(tmp_path: Path, *dirs: str, marker: str = "config.json", config: bool = True) -> RunDir:
    root = tmp_path / "run"
    root.mkdir(parents=True)
    if config:
        (root / CONFIG_NAME).write_text("trainer: grpo\nmodel: {path: tiny}\n")
    for d in dirs:
        name, _, file = d.partition(":")
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / (file or marker)).write_text("{}")
    return RunDir(root)


def test_final_dir_is_adapter_under_lora_and_model_otherwise(tmp_path):
    run = RunDir(tmp_path)
    assert run.final_dir(lora=True) == tmp_path / "adapter" == run.adapter_dir
    assert run.final_dir(lora=False) == tmp_path / "model" == run.model_dir
    assert run.tiny_model_dir == tmp_path / "tiny_model" and run.critic_path == tmp_path / "critic.pt"


@pytest.mark.parametrize(
    "dirs, kind, path, merged, legacy",
    [
        (["adapter:adapter_config.json"], "adapter", "adapter", None, False),
        (["adapter:adapter_config.json", "merged"], "adapter", "adapter", "merged", False),
        (["model:adapter_config.json"], "adapter", "model", None, True),  # GRPO/PPO LoRA before adapter/
        (["model"], "full", "model", None, False),
        (["prm"], "prm", "prm", None, False),
        (["merged"], "full", "merged", None, False),  # adapter deleted by hand: the merged copy loads
    ],
)
def test_final_model_of_each_kind_of_run(tmp_path, dirs, kind, path, merged, legacy):
    run = _run(tmp_path, "tiny_model", *dirs)
    final = run.final_model()
    assert (final.kind, final.path, final.legacy) == (kind, run.root / path, legacy)
    assert final.merged == (run.root / merged if merged else None)


def test_an_unfinished_run_names_its_last_checkpoint(tmp_path):
    run = _run(tmp_path, "tiny_model", "checkpoints/checkpoint-9:state.json")
    (run.checkpoints / "checkpoint-10").mkdir()
    with pytest.raises(ValueError) as info:
        run.final_model()
    msg = str(info.value)
    assert "holds no final model" in msg and "has not finished" in msg
    assert "checkpoints/checkpoint-10 " in msg and "--resume" in msg


def test_nothing_to_load_says_what_was_found(tmp_path):
    run = _run(tmp_path, "model:tokenizer.json", config=False)  # a model/ without config.json
    with pytest.raises(ValueError, match=r"model/ lacks config.json.*not a run directory"):
        run.final_model()


def test_base_model_is_the_recorded_path_or_the_runs_tiny_model(tmp_path):
    run = _run(tmp_path)
    assert run.base_model() == (str(run.tiny_model_dir), "float32")
    (run.config_path).write_text("model: {path: /models/m, dtype: bfloat16}\n")
    assert run.base_model() == ("/models/m", "bfloat16")
    with pytest.raises(ValueError, match="is not a run directory"):
        RunDir(tmp_path / "elsewhere").base_model()


def test_find_adapter_takes_an_adapter_dir_or_a_lora_run(tmp_path):
    run = _run(tmp_path, "model:adapter_config.json")
    assert find_adapter(run.root) == run.model_dir  # legacy layout read too
    assert find_adapter(run.model_dir) == run.model_dir
    full = _run(tmp_path / "f", "model")
    with pytest.raises(ValueError, match=r"holds no LoRA adapter .*is a full model"):
        find_adapter(full.root)
    with pytest.raises(FileNotFoundError, match="lora.adapter_path '/no/such'"):
        find_adapter("/no/such")
