"""The shared optimisation runtime: schedules equal transformers' (so no trainer's numbers moved),
clipping, the skipped update, and the non-finite-loss policy, on real optimizers and tensors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rlhf.config.recipe import TrainSection
from rlhf.runtime import optim


def _lrs(scheduler, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def _opt(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def test_rl_sft_and_prm_schedules_are_the_ones_they_always_had():
    """Each trainer's former schedule, expressed with `train:` knobs, gives the same floats."""
    import transformers as tf

    total = 23
    rl = TrainSection(lr=1e-3, warmup_steps=3, min_lr_ratio=0.1)  # the RL defaults
    ref = tf.get_cosine_with_min_lr_schedule_with_warmup(_opt(), 3, total, min_lr_rate=0.1)
    assert _lrs(optim.build_scheduler(_opt(), rl, total), total) == _lrs(ref, total)

    sft = dataclasses.replace(rl, warmup_steps=0, warmup_ratio=0.2, min_lr_ratio=0.0)  # HF "cosine"
    ref = tf.get_cosine_schedule_with_warmup(_opt(), 4, total)  # 0.2 * 23 = 4.6 -> 4
    assert _lrs(optim.build_scheduler(_opt(), sft, total), total) == _lrs(ref, total)
    for name, kind in (("linear", "linear"), ("constant_with_warmup", "constant")):
        ref = tf.get_scheduler(name, _opt(), num_warmup_steps=4, num_training_steps=total)
        ours = optim.build_scheduler(_opt(), dataclasses.replace(sft, lr_scheduler=kind), total)
        assert _lrs(ours, total) == _lrs(ref, total), name

    # the PRM trainer's former LambdaLR, verbatim
    prm = dataclasses.replace(sft, lr_scheduler="linear", warmup_ratio=0.05, warmup_offset=1)
    total, warmup = 100, 5
    old = torch.optim.lr_scheduler.LambdaLR(
        _opt(),
        lambda s: (s + 1) / max(warmup, 1) if s < warmup else max(0.0, (total - s) / max(total - warmup, 1)),
    )
    assert _lrs(optim.build_scheduler(_opt(), prm, total), total) == _lrs(old, total)


def test_warmup_ratio_rounds_down_and_excludes_warmup_steps():
    assert optim.warmup_steps(TrainSection(warmup_ratio=0.05), 1128) == 56
    assert optim.warmup_steps(TrainSection(warmup_ratio=0.05), 1500) == 75
    assert optim.warmup_steps(TrainSection(warmup_steps=7), 1500) == 7
    with pytest.raises(ValueError, match="set one of them"):
        TrainSection(warmup_steps=2, warmup_ratio=0.1)
    with pytest.raises(ValueError, match="warmup_offset must be 0 or 1"):
        TrainSection(warmup_offset=2)


def test_clip_gradients_caps_the_norm_and_zero_only_measures():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(50))
    grad = torch.randn(50) * 10
    p.grad = grad.clone()
    norm = optim.clip_gradients([p], 0.0)
    assert norm == pytest.approx(float(grad.norm()), rel=1e-6)
    assert torch.equal(p.grad, grad)  # 0: measured, not clipped (bit for bit)
    optim.clip_gradients([p], 0.5)
    assert float(p.grad.norm()) == pytest.approx(0.5, rel=1e-4)


def _model_and_update(loss_scale: float, max_grad_norm: float = 1.0):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = optim.build_optimizer(model.parameters(), TrainSection(lr=0.1, min_lr_ratio=0.0))
    sched = optim.build_scheduler(opt, TrainSection(lr=0.1, min_lr_ratio=0.0), 10)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.ones(1, 4)).sum() * loss_scale
    finite = bool(torch.isfinite(loss))
    if finite:
        loss.backward()
    done = optim.update([opt], sched, list(model.parameters()), max_grad_norm, step=0, loss_finite=finite)
    return done, before, model, sched, finite


def test_a_non_finite_loss_or_gradient_skips_the_update_and_holds_the_schedule():
    done, before, model, sched, _ = _model_and_update(1.0)
    assert done.applied and done.grad_norm > 0
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert sched.last_epoch == 1 and all(p.grad is None for p in model.parameters())

    for scale in (float("nan"), float("inf")):  # non-finite loss: no backward, no step
        done, before, model, sched, _ = _model_and_update(scale)
        assert not done.applied and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        assert sched.last_epoch == 0  # the schedule did not move
    # a finite loss whose gradient norm overflows float32: skipped too, with clipping off as well
    done, before, model, _, finite = _model_and_update(1e30, max_grad_norm=0.0)
    assert finite and all(torch.isfinite(p).all() for p in model.parameters())
    assert not done.applied and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_skipped_updates_hold_a_schedule_that_is_stepped_anyway():
    """transformers' loop steps the scheduler after every update; `skipped` keeps the curve in place,
    and it travels in the scheduler's state_dict (a resumed run continues the same curve)."""
    train = TrainSection(lr=1.0, warmup_steps=2, min_lr_ratio=0.0)
    sched = optim.build_scheduler(_opt(), train, 10)
    sched.optimizer.step()
    sched.step()
    lr = sched.get_last_lr()[0]
    optim.schedule_of(sched).skipped += 1
    sched.optimizer.step()
    sched.step()
    assert sched.get_last_lr()[0] == lr
    again = optim.build_scheduler(_opt(), train, 10)
    again.load_state_dict(sched.state_dict())
    assert optim.schedule_of(again).skipped == 1 and again.get_last_lr() == sched.get_last_lr()


def test_bad_steps_count_in_a_row_and_stop_at_the_limit(capsys):
    bad = optim.BadSteps(limit=2)
    assert not bad.record(True, 0) and not bad.record(False, 1) and bad.in_a_row == 0
    assert not bad.record(True, 2) and bad.record(True, 3)
    assert "step 3: non-finite loss, update skipped (2 in a row)" in capsys.readouterr().err
    msg = str(bad.error(3, "runs/x/checkpoints"))
    assert "2 steps in a row had a non-finite loss (train.max_bad_steps=2)" in msg
    assert "runs/x/checkpoints" in msg and "--resume" in msg


def test_optimizer_covers_trainable_parameters_only_and_picks_the_kernel():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    model[0].requires_grad_(False)
    opt = optim.build_optimizer(model.parameters(), TrainSection(lr=0.5, weight_decay=0.1))
    (group,) = opt.param_groups
    assert len(group["params"]) == 2 and group["lr"] == 0.5 and group["weight_decay"] == 0.1
    assert not group["fused"]
    fused = optim.build_optimizer(model.parameters(), TrainSection(optimizer="adamw_fused"))
    assert fused.param_groups[0]["fused"]
