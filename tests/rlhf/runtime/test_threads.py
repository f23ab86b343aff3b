"""`train.cpu_threads: auto` and `cotrl eval --threads`: one thread for tiny models on CPU, cores for large ones."""

from __future__ import annotations

import json
import os

import pytest
import torch

from rlhf.cli.main import main
from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.runtime.threads import AUTO_ONE_THREAD_BELOW, apply_threads, choose_threads


@pytest.fixture
def restore_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_auto_rule_by_model_size_device_and_environment(restore_threads, monkeypatch):
    cores = len(os.sched_getaffinity(0))
    assert choose_threads("auto", 400_000, "cpu")[0] == 1
    assert choose_threads("auto", AUTO_ONE_THREAD_BELOW, "cpu")[0] == cores
    assert choose_threads("auto", 10**9, "cuda")[0] is None  # torch's default on a GPU
    assert choose_threads(3, 400_000, "cpu")[0] == 3  # a count is a count
    assert choose_threads(0, 10**9, "cpu")[0] is None  # 0: torch's default, as before
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores * 2))
    assert choose_threads("auto", 10**9, "cpu")[0] == 1  # several processes share the cores
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    threads, why = choose_threads("auto", 10**9, "cpu")
    assert threads is None and "OMP_NUM_THREADS=2" in why


def test_auto_gives_a_tiny_model_one_thread_and_says_so(restore_threads, tiny_model_dir, capsys):
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert apply_threads("auto", model) == 1 == torch.get_num_threads()
    err = capsys.readouterr().err
    assert "train.cpu_threads=auto: 1 thread (auto:" in err and "M parameters" in err


def test_cpu_threads_defaults_to_auto_and_accepts_a_count():
    assert config.from_dict(RunConfig, {"trainer": "grpo"}).train.cpu_threads == "auto"
    raw = config.apply_overrides({"trainer": "grpo"}, ["train.cpu_threads=4"])
    assert config.from_dict(RunConfig, raw).train.cpu_threads == 4
    with pytest.raises(config.ConfigError, match="train.cpu_threads"):
        config.from_dict(RunConfig, {"trainer": "grpo", "train": {"cpu_threads": "many"}})
    with pytest.raises(ValueError, match="train.cpu_threads must be auto or >= 0"):
        config.from_dict(RunConfig, {"trainer": "grpo", "train": {"cpu_threads": -1}})


def test_eval_threads_flag(restore_threads, tiny_model_dir, capsys):
    torch.set_num_threads(2)
    args = ["eval", str(tiny_model_dir), "--task", "integer_arithmetic", "--n", "2", "--max-new-tokens", "4"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "--threads=auto: 1 thread" in out.err and torch.get_num_threads() == 1
    assert json.loads(out.out)["n_problems"] == 2
    assert main([*args, "--threads", "2"]) == 0
    assert "--threads=2: 2 threads (set)" in capsys.readouterr().err and torch.get_num_threads() == 2
    assert main([*args, "--threads", "many"]) == 2
    assert "--threads must be 'auto' or a whole number >= 0, got 'many'" in capsys.readouterr().err
