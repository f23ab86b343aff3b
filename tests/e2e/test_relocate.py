"""Runs that move: `cotrl eval` and `cotrl export` from any working directory, after the run (and its
base) moved; and files that honour the umask (tempfile's 0600/0700 are not left behind)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from data_gen.writers import atomic_write_text, write_hf
from rlhf.cli.main import main
from tests.rlhf.trainers.test_sft_trainer import ROWS


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sft_lora_run(work: Path, tiny_model_dir: Path, monkeypatch) -> Path:
    """A 1-step LoRA SFT run started in `work`, on a base given by a path relative to `work`."""
    shutil.copytree(tiny_model_dir, work / "base")
    (work / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (work / "sft.yaml").write_text(
        """trainer: sft
run: {output_dir: runs/lora, device: cpu}
model: {path: base}
lora: {enabled: true, r: 4}
train: {lr: 1.0e-2, cpu_threads: 1}
sft: {train_path: train.jsonl, max_steps: 1, batch_size: 4, eval_max_items: 2, eval_max_new_tokens: 4, max_length: 64}
"""
    )
    monkeypatch.chdir(work)
    assert main(["train", "sft.yaml"]) == 0
    return work / "runs" / "lora"


EVAL = ["--task", "integer_arithmetic", "--n", "2", "--max-new-tokens", "4", "--threads", "1"]


@pytest.mark.slow
def test_a_moved_run_evaluates_and_exports_from_another_directory(
    tmp_path, tiny_model_dir, monkeypatch, capsys, umask_022
):
    _sft_lora_run(tmp_path / "work", tiny_model_dir, monkeypatch)
    # the run and its base move together: found relative to the run directory
    shutil.move(tmp_path / "work", tmp_path / "moved")
    run = tmp_path / "moved" / "runs" / "lora"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["eval", str(run), *EVAL]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["n_problems"] == 2
    assert main(["eval", str(run / "adapter"), *EVAL]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["export", str(run), "out"]) == 0, capsys.readouterr().err
    assert (tmp_path / "elsewhere" / "out" / "config.json").is_file()

    # only the run moves: its base is found where it was when the run started
    shutil.move(run, tmp_path / "alone")
    shutil.move(tmp_path / "moved", tmp_path / "work")  # the base back where the run was started
    assert main(["eval", str(tmp_path / "alone"), *EVAL]) == 0, capsys.readouterr().err
    capsys.readouterr()

    # neither: one line naming both places tried
    shutil.rmtree(tmp_path / "work" / "base")
    assert main(["eval", str(tmp_path / "alone"), *EVAL]) == 2
    err = capsys.readouterr().err
    assert "base model of run" in err and str(tmp_path / "work" / "base") in err and "--base" in err


@pytest.mark.slow
def test_a_run_directory_honours_the_umask(tmp_path, tiny_model_dir, monkeypatch, umask_022):
    run = _sft_lora_run(tmp_path / "work", tiny_model_dir, monkeypatch)
    modes = {p.relative_to(run).as_posix(): _mode(p) for p in [run, *run.rglob("*")]}
    for name in ("adapter/adapter_model.safetensors", "config.resolved.yaml", "result.json", "metrics.jsonl"):
        assert modes[name] == 0o644, (name, oct(modes[name]))
    assert modes["adapter"] == 0o755
    assert {n: oct(m) for n, m in modes.items() if m not in (0o644, 0o755)} == {}


def test_atomic_files_and_dataset_dirs_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert _mode(atomic_write_text(tmp_path / "a.txt", "x")) == 0o644
        write_hf([{"id": "1", "prompt": "p", "answer": "1", "difficulty": {}, "meta": {}}], tmp_path / "ds")
        assert _mode(tmp_path / "ds") == 0o755
        assert {_mode(p) for p in (tmp_path / "ds").rglob("*") if p.is_file()} == {0o644}
        os.umask(0o077)  # a private umask stays private
        assert _mode(atomic_write_text(tmp_path / "b.txt", "x")) == 0o600
    finally:
        os.umask(old)
