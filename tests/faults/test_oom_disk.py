"""Out of memory in an update -> a message naming the knobs; disk full while writing a
checkpoint -> the previous checkpoint stays intact and loadable."""

from __future__ import annotations

import errno

import pytest
import torch

from rlhf.runtime import checkpoint as ckpt


def _objects(v: float) -> dict:
    return {"trainable": {"w": torch.full((64,), v)}, "optimizer": {"state": {"m": torch.full((64,), v)}}}


def _fill_disk_on(name: str, real_save, how: str):
    """A torch.save whose write of `name` lands on /dev/full: the kernel answers ENOSPC."""

    def save(obj, path, *a, **kw):
        if str(path).endswith(name):
            if how == "file":
                with open("/dev/full", "wb") as fh:  # OSError(ENOSPC) from the kernel
                    return real_save(obj, fh, *a, **kw)
            return real_save(obj, "/dev/full", *a, **kw)  # torch's own writer: RuntimeError
        return real_save(obj, path, *a, **kw)

    return save


@pytest.mark.parametrize("how", ["file", "path"])
def test_disk_full_mid_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, how):
    root = tmp_path / "checkpoints"
    ckpt.save_checkpoint(root, 0, _objects(1.0), {"data_cursor": 1}, keep=1)
    monkeypatch.setattr(ckpt.torch, "save", _fill_disk_on("optimizer.pt", torch.save, how))
    with pytest.raises(OSError) as info:
        ckpt.save_checkpoint(root, 1, _objects(2.0), {"data_cursor": 2}, keep=1)
    if how == "file":  # the kernel's ENOSPC
        assert info.value.errno == errno.ENOSPC
        assert "disk full while writing checkpoint step-000001" in str(info.value)
    else:  # torch's writer turns the short write into a RuntimeError; it is reported the same way
        assert "writing checkpoint step-000001 failed" in str(info.value) and "full disk" in str(info.value)
    assert "step-000000 is intact" in str(info.value) and "--resume" in str(info.value)
    monkeypatch.undo()
    assert [p.name for p in root.iterdir()] == ["step-000000"]  # the unfinished copy is gone
    latest = ckpt.latest_checkpoint(root)
    objects, state = ckpt.load_checkpoint(latest, ["trainable", "optimizer"])
    assert state["data_cursor"] == 1 and torch.equal(objects["trainable"]["w"], torch.full((64,), 1.0))
    ckpt.restore_rng(latest)


@pytest.fixture()
def rl(tmp_path, tiny_model_dir):
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.rl import common as rc
    from tests.rlhf.trainers.rl_helpers import recipe

    path = recipe(tmp_path, "grpo", "  micro_batch_size: 2\n")
    cfg = config.load(RunConfig, path, [f"model.path={tiny_model_dir}"])
    return rc.setup(cfg, prepare_run_dir(cfg, cfg.run.output_dir))


@pytest.mark.slow
def test_out_of_memory_in_an_update_names_the_knobs(rl):
    from rlhf.algos import ADVANTAGES
    from rlhf.trainers.rl import common as rc
    from rlhf.trainers.rl.faults import OutOfMemory

    col = rc.collect(rl, 0)
    batch = rc.fill_logprobs(rl, col.batch)
    adv = ADVANTAGES.get("grpo")(batch, rl.cfg.algo)

    def huge_activation(module, args):  # a real allocation the CPU allocator refuses (64 TiB)
        torch.empty(1 << 46, dtype=torch.uint8)

    handle = rl.unwrapped.register_forward_pre_hook(huge_activation)
    try:
        with pytest.raises(OutOfMemory) as info:
            rc.policy_update(rl, batch, adv, 0)
    finally:
        handle.remove()
    msg = str(info.value)
    assert "out of memory during the policy update" in msg and "can't allocate memory" in msg
    for knob in (
        "train.micro_batch_size (now 2",
        "rollout.max_new_tokens (now 12",
        "rollout.n (now 4",
        "data.prompts_per_step (now 2",
    ):
        assert knob in msg
    assert isinstance(info.value, ValueError)  # `cotrl` prints it as one line, exit 2
    assert all(p.grad is None for p in rl.unwrapped.parameters())  # nothing half-accumulated is left
    stats = rc.policy_update(rl, batch, adv, 0)  # the same update goes through once memory is there
    assert stats["skipped_updates"] == 0


def test_other_runtime_errors_are_not_called_out_of_memory(rl):
    from rlhf.trainers.rl import common as rc

    col = rc.collect(rl, 0)

    def broken(module, args):
        raise RuntimeError("shape mismatch")

    handle = rl.unwrapped.register_forward_pre_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="shape mismatch"):
            rc.fill_logprobs(rl, col.batch)
            rc.policy_update(rl, col.batch, torch.zeros_like(col.batch.old_logprobs), 0)
    finally:
        handle.remove()
