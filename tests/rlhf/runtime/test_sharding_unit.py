"""The sharding checks on one process: launches never run are refused, a resume of another layout
is refused before anything is written, untied shared parameters are refused, and on an unsharded
model every helper is the identity."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rlhf.runtime import sharding


def _launch(monkeypatch, **env: str) -> None:
    for key in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "FSDP_VERSION", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_layout_names_the_launch(monkeypatch):
    _launch(monkeypatch)
    assert sharding.layout() == {"sharding": "replicated", "world_size": 1}
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="2", WORLD_SIZE="2")
    assert sharding.layout() == {"sharding": "fsdp2", "world_size": 2}


def test_launches_never_run_are_refused_with_one_line(monkeypatch):
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="1")
    with pytest.raises(ValueError, match="fsdp_version=1: cotrl runs FSDP2 only"):
        sharding.check_launch(cpu=True)
    _launch(monkeypatch, ACCELERATE_USE_DEEPSPEED="true")
    with pytest.raises(ValueError, match="DEEPSPEED on CPU"):
        sharding.check_launch(cpu=True)
    sharding.check_launch(cpu=False)  # on GPUs the DeepSpeed configs are the user's to run
    _launch(monkeypatch, ACCELERATE_USE_DEEPSPEED="true", ACCELERATE_DEEPSPEED_ZERO_STAGE="3")
    with pytest.raises(ValueError, match="ZeRO-3 with lora.enabled and rollout.backend=vllm"):
        sharding.check_combination(lora=True, rollout_backend="vllm")
    sharding.check_combination(lora=False, rollout_backend="vllm")
    sharding.check_combination(lora=True, rollout_backend="transformers")
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="2")
    sharding.check_launch(cpu=True)


def test_trainers_never_sharded_are_refused_under_fsdp(monkeypatch):
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="2")
    for name in ("grpo", "ppo", "sft", "prm", "distill"):  # every built-in trainer shards
        sharding.check_trainer(name)
    with pytest.raises(ValueError, match="trainer 'my_loop' under FSDP was never run: cotrl shards grpo"):
        sharding.check_trainer("my_loop")  # a trainer registered by user code
    _launch(monkeypatch)
    sharding.check_trainer("my_loop")


def test_prm_on_several_processes_needs_fsdp(monkeypatch):
    _launch(monkeypatch, WORLD_SIZE="2")
    with pytest.raises(ValueError, match="trainer 'prm' on 2 processes without FSDP"):
        sharding.check_trainer("prm")
    sharding.check_trainer("sft")  # DDP: transformers' Trainer is data parallel
    _launch(monkeypatch, WORLD_SIZE="2", ACCELERATE_USE_FSDP="true", FSDP_VERSION="2")
    sharding.check_trainer("prm")
    _launch(monkeypatch)
    sharding.check_trainer("prm")


def _checkpoint(root, layout):
    ckpt = root / "step-000003"
    ckpt.mkdir(parents=True)
    state = {"step": 3, "data_cursor": 4} | ({"layout": layout} if layout else {})
    (ckpt / "state.json").write_text(json.dumps(state))
    return root


def test_resume_on_another_layout_or_world_size_is_refused(monkeypatch, tmp_path):
    fsdp = _checkpoint(tmp_path / "a", {"sharding": "fsdp2", "world_size": 2})
    _launch(monkeypatch)
    with pytest.raises(ValueError, match="written by a fsdp2 run but this launch is replicated"):
        sharding.check_resume_layout(fsdp)
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="2", WORLD_SIZE="4")
    with pytest.raises(ValueError, match="written by 2 processes but this launch has 4"):
        sharding.check_resume_layout(fsdp)
    _launch(monkeypatch, ACCELERATE_USE_FSDP="true", FSDP_VERSION="2", WORLD_SIZE="2")
    sharding.check_resume_layout(fsdp)  # the same layout resumes
    old = _checkpoint(tmp_path / "b", None)  # written before layouts were recorded: replicated
    with pytest.raises(ValueError, match="written by a replicated run but this launch is fsdp2"):
        sharding.check_resume_layout(old)
    _launch(monkeypatch, WORLD_SIZE="2")
    sharding.check_resume_layout(old)
    sharding.check_resume_layout(tmp_path / "none")  # nothing to resume: nothing to check


class _Shared(nn.Module):
    def __init__(self, tie_head: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(8, 4)
        self.head = nn.Linear(4, 8, bias=False)
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        if tie_head:
            self.head.weight = self.embed.weight

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def get_output_embeddings(self) -> nn.Module:
        return self.head


def test_tied_embeddings_pass_and_other_shared_parameters_are_refused():
    tied = _Shared(tie_head=True)
    sharding.check_shared_parameters(tied)
    tied.b.weight = tied.a.weight  # untied-but-shared: one tensor in two blocks
    with pytest.raises(ValueError, match=r"a\.weight, b\.weight are one shared tensor"):
        sharding.check_shared_parameters(tied)


def test_unsharded_model_helpers_are_the_identity():
    torch.manual_seed(0)
    model = _Shared(tie_head=False)
    assert not sharding.is_sharded(model)
    with sharding.unsharded(model) as inner:
        assert inner is model
    full = sharding.full_state_dict(model)
    assert full.keys() == model.state_dict().keys()
    assert all(torch.equal(full[k], v) for k, v in model.state_dict().items())
    t = torch.ones(2)
    assert sharding.full_tensor(t) is t
    assert sharding.gathered(model) == {}  # save_pretrained reads the model itself
