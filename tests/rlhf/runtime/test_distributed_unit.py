"""The multi-process helpers are no-ops on one process, and a non-main process writes nothing."""

from __future__ import annotations

import json

import torch
from torch import nn

from rlhf.runtime import distributed as dist
from rlhf.runtime.rundir import RunDir


class _OneProcess:
    num_processes = 1
    process_index = 0
    device = torch.device("cpu")


def test_single_process_leaves_seeds_flags_and_gathers_alone():
    acc = _OneProcess()
    assert dist.rank_seed(1234, acc) == 1234
    assert dist.all_true(acc, True) and not dist.all_true(acc, False)
    assert dist.gather(acc, 3.5) == [3.5] and dist.gather_flat(acc, [1, 2]) == [1, 2]
    assert dist.rollout_digests(acc, []) == {}


def test_use_cpu_follows_the_device_and_cuda():
    assert dist.use_cpu("cpu")
    assert dist.use_cpu("auto") == (not torch.cuda.is_available())
    assert not dist.use_cpu("cuda")


def test_weight_checksum_sees_any_change_of_a_trainable_weight():
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    assert dist.weights_checksum(a) == dist.weights_checksum(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-6
    assert dist.weights_checksum(a) != dist.weights_checksum(b)
    b.load_state_dict(a.state_dict())
    a.weight.requires_grad_(False)
    b.weight.requires_grad_(False)
    with torch.no_grad():
        b.weight.add_(1.0)  # frozen weights are not compared (they never receive gradients)
    assert dist.weights_checksum(a) == dist.weights_checksum(b)


def test_secondary_run_dir_drops_writes(tmp_path):
    main, other = RunDir(tmp_path), dist.SecondaryRunDir(tmp_path)
    main.append_jsonl(main.metrics_path, {"step": 0})
    other.append_jsonl(other.metrics_path, {"step": 0})
    other.write_json("result.json", {"x": 1})
    assert [json.loads(x) for x in main.metrics_path.read_text().splitlines()] == [{"step": 0}]
    assert not (tmp_path / "result.json").exists()
    assert isinstance(other, RunDir) and other.checkpoints == main.checkpoints
