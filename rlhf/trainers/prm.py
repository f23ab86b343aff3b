"""The `prm` trainer: fit a process reward model and evaluate it ProcessBench-style.

    cotrl train recipes/prm_train.yaml             # --resume continues a killed run

Data (`prm_data.py`): `prm.data: generate` draws items from data_gen generators and turns each into
its gold trace and one trace with an injected error (labels: good up to the first wrong step, bad
from it on); the held-out set comes from data_gen's test split, so no evaluation problem was seen
in training. `prm.data: file` reads stepwise / PRM800K / Math-Shepherd / ProcessBench JSONL.

Model: a 2-way token-classification head on the causal LM at `model.path` (or the run's own
tiny model for `tiny`, its tokenizer trained on this run's traces), LoRA (the one `apply_lora`
every trainer uses, the head trainable beside the adapter; `lora.adapter_path` continues an
adapter) or full finetuning, `model.gradient_checkpointing` honoured. Loss: cross-entropy at each
step's last token (soft labels allowed), plus `prm.lm_coef` times a next-token loss on good text.

Optimisation is the shared runtime (`rlhf.runtime.optim`), as in the RL and SFT trainers: AdamW,
the `train:` schedule, clipping at `train.max_grad_norm`, and a non-finite loss skips the update
(`train.max_bad_steps` in a row stop the run with a checkpoint). A step is one batch of
`prm.batch_size` rows; the rows are reshuffled every epoch by a generator seeded from `run.seed`,
so the data cursor is just the step number.

Threshold: a step is called wrong when P(good) < `prm.threshold`; with `prm.num_val` > 0 the
threshold is instead the one with the best F1 on validation traces held out of training (the
reported F1 is still on the held-out test traces), and it is saved with the PRM.

Writes into the run directory (layout: `rlhf.runtime.rundir`): `checkpoints/step-N/` every
`run.save_every` steps and at the end (trainable weights, optimizer, schedule, RNG states, step;
atomic, as the RL loop's), `prm/` (the trained PRM, LoRA merged in whether or not `lora.enabled`,
so the `prm` step reward loads it without peft or a base; it is a step classifier, not a policy,
so `cotrl eval` and `cotrl export` refuse it by name), `metrics.jsonl` (loss per logged step,
evaluations), `eval.json` (final ProcessBench metrics and a few example traces), `plots/prm_loss.png`.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from rewards.prm.data import collate, encode_row, lm_loss, step_loss
from rewards.prm.model import load_backbone, save_prm
from rlhf.config.reads import SHARED_TRAIN_KEYS, Reads
from rlhf.config.recipe import RunConfig
from rlhf.models.adapters import save_dir_atomic
from rlhf.models.policy import (
    DTYPES,
    apply_lora,
    enable_gradient_checkpointing,
    load_tokenizer,
    load_trainable_state_dict,
    resolve_model_path,
    trainable_state_dict,
)
from rlhf.runtime import checkpoint as ckpt
from rlhf.runtime import distributed as dist
from rlhf.runtime import optim, sharding
from rlhf.runtime import sharded_checkpoint as shards
from rlhf.runtime.hardware import HardwareMonitor
from rlhf.runtime.metrics import MetricsLog, truncate_jsonl
from rlhf.runtime.progress import progress
from rlhf.runtime.rundir import RunDir
from rlhf.runtime.threads import apply_threads
from rlhf.trainers.prm_data import evaluate, load_data, plot_losses

READS = Reads(  # what a prm recipe may set; anything else is refused before the run starts
    sections=("run", "model", "tiny", "lora", "prm"),
    keys={"train": SHARED_TRAIN_KEYS},
    instead={"train.steps": "prm.epochs", "train.micro_batch_size": "prm.batch_size"},
)


@dataclass
class Fit:
    """The training state a checkpoint holds. `step` is the number of batches done (the data cursor)."""

    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    bad: optim.BadSteps
    step: int = 0
    losses: list[float] = field(default_factory=list)  # step loss of every batch (the plot's curve)
    accelerator: Any = None  # FSDP2 launches only (`shard`); one process and its loop are unchanged


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    p = cfg.prm
    random.seed(cfg.run.seed)
    torch.manual_seed(cfg.run.seed)
    rows, evals, vals = load_data(cfg)
    if not rows:
        raise ValueError("prm: no training rows (check prm.train_file / prm.tasks)")
    device = _device(cfg.run.device)

    corpus = [r["prompt"] for r in rows[:2000]] + [s for r in rows[:2000] for s in r["completions"]]
    with dist.main_process_first():  # several processes: the main one builds a tiny model, the others load it
        model_path = resolve_model_path(cfg, run_dir.root, corpus)
    tokenizer = load_tokenizer(cfg, model_path)
    model = load_model(cfg, model_path).to(device)
    apply_threads(cfg.train.cpu_threads, model)  # auto: by the model's size (rlhf.runtime.threads)

    encoded = [
        encode_row(tokenizer, r["prompt"], r["completions"], r["labels"], p.separator, p.max_length)
        for r in rows
    ]
    encoded = [e for e in encoded if e.step_positions]
    steps_per_epoch = math.ceil(len(encoded) / p.batch_size)
    total = steps_per_epoch * p.epochs
    opt = optim.build_optimizer(model.parameters(), cfg.train)
    fit = Fit(
        model, opt, optim.build_scheduler(opt, cfg.train, total), optim.BadSteps(cfg.train.max_bad_steps)
    )
    if sharding.fsdp_launch():
        shard(fit, cfg)
        model, device = fit.model, fit.accelerator.device
    if run_dir.resume:
        resume(fit, run_dir)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    hidden: dict[str, torch.Tensor] = {}
    if p.lm_coef > 0:  # capture the backbone's final states for the auxiliary next-token loss
        _backbone_body(model).register_forward_hook(lambda _m, _i, out: hidden.__setitem__("h", out[0]))

    main = fit.accelerator is None or fit.accelerator.is_main_process
    log = MetricsLog(run_dir.metrics_path, cfg.run.report_to) if main else dist.NullLog()
    hw = HardwareMonitor()
    t0 = time.perf_counter()
    rng = random.Random(cfg.run.seed)
    with progress(total, fit.step, "prm", cfg.run.log_every) as bar:
        for epoch in range(p.epochs):
            order = list(range(len(encoded)))
            rng.shuffle(order)  # replayed for finished epochs too, so a resumed run sees the same order
            for start in range(0, len(order), p.batch_size):
                if epoch * steps_per_epoch + start // p.batch_size < fit.step:
                    continue  # done before the checkpoint this run resumed from
                batch = collate([encoded[i] for i in order[start : start + p.batch_size]], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                record = train_step(fit, batch, cfg, hidden)
                record["seconds"] = time.perf_counter() - t0
                record.update(hw.read())  # CPU, memory (and GPU memory) of this step, for every sink
                bar.update(fit.step, f"step_loss={record['step_loss']:.4f} lm_loss={record['lm_loss']:.3f}")
                if fit.step % max(cfg.run.log_every, 1) == 0 or fit.step == total or "skipped" in record:
                    log.log(record)
                if p.eval_every and fit.step % p.eval_every == 0 and fit.step < total:
                    metrics = evaluate(model, tokenizer, evals, p, device, vals)
                    log.log(
                        {"step": fit.step, **{f"eval/{k}": v for k, v in metrics.items() if k != "examples"}}
                    )
                if fit.bad.record("skipped" in record, fit.step):
                    save(fit, run_dir, cfg)
                    raise fit.bad.error(fit.step, run_dir.checkpoints)
                if cfg.run.save_every and fit.step % cfg.run.save_every == 0:
                    save(fit, run_dir, cfg)
    if not (cfg.run.save_every and fit.step % cfg.run.save_every == 0):
        save(fit, run_dir, cfg)  # the final state, unless the schedule just wrote it
    train_seconds = time.perf_counter() - t0
    return finish(
        fit, cfg, run_dir, log, tokenizer, (evals, vals, device), model_path, len(encoded), train_seconds
    )


def load_model(cfg: RunConfig, model_path: str) -> Any:
    """The 2-label classifier on the backbone, with gradient checkpointing and LoRA as the recipe says."""
    model = load_backbone(model_path, DTYPES[cfg.model.dtype], cfg.model.trust_remote_code)
    enable_gradient_checkpointing(model, cfg)
    if cfg.lora.adapter_path and not cfg.lora.enabled:
        raise ValueError("lora.adapter_path is set but lora.enabled is false")
    if cfg.lora.enabled:
        model = apply_lora(model, cfg, task_type="TOKEN_CLS")  # the head stays trainable (modules_to_save)
    return model


def train_step(fit: Fit, batch: dict[str, torch.Tensor], cfg: RunConfig, hidden: dict) -> dict[str, Any]:
    """Forward, backward and one shared-runtime update; a non-finite loss skips the update."""
    p, model = cfg.prm, fit.model
    model.train()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    prm_loss = step_loss(logits, batch["targets"])
    aux = torch.zeros(())
    if p.lm_coef > 0:
        # sharded: the embedding gathered (outside the forward it is this process's shard); its
        # gradient comes back as this process's slice, exact because every process runs the whole batch
        emb = sharding.full_tensor(model.get_input_embeddings().weight)
        aux = lm_loss(hidden.pop("h"), emb, batch["input_ids"], batch["lm_mask"])
    loss = prm_loss + p.lm_coef * aux
    finite = bool(torch.isfinite(loss))
    if finite:
        loss.backward()
    params = [x for x in model.parameters() if x.requires_grad]
    clip_fn = fit.accelerator.clip_grad_norm_ if fit.accelerator is not None else None
    done = optim.update(
        [fit.optimizer],
        fit.scheduler,
        params,
        cfg.train.max_grad_norm,
        step=fit.step,
        loss_finite=finite,
        clip_fn=clip_fn,
    )
    fit.step += 1
    fit.losses.append(float(prm_loss.detach()))  # the step classification loss (the plot's curve)
    record: dict[str, Any] = {
        "step": fit.step,
        "loss": float(loss.detach()),
        "step_loss": prm_loss.item(),
        "lm_loss": aux.item(),
        "grad_norm": done.grad_norm,
        "lr": fit.scheduler.get_last_lr()[0],
    }
    if not done.applied:
        record["skipped"] = "non-finite loss" if not finite else "non-finite gradient"
    return record


def finish(
    fit: Fit,
    cfg: RunConfig,
    run_dir: RunDir,
    log: MetricsLog,
    tokenizer: Any,
    data: tuple[Any, Any, torch.device],
    model_path: str,
    train_rows: int,
    train_seconds: float,
) -> dict[str, Any]:
    """Final evaluation, the PRM directory (written atomically), eval.json and the loss plot."""
    p = cfg.prm
    evals, vals, device = data
    metrics = evaluate(fit.model, tokenizer, evals, p, device, vals)
    model = unsharded_copy(fit, cfg, model_path)  # FSDP: gathered on every process, rebuilt on the main one
    if model is not None:
        save_dir_atomic(  # `prm/`: always one self-contained PRM (LoRA merged in), see RunDir
            run_dir.prm_dir,
            lambda tmp: save_prm(model, tokenizer, tmp, p.separator, p.max_length, metrics["threshold"]),
        )
    summary = {k: v for k, v in metrics.items() if k != "examples"}
    log.log({"step": fit.step, **{f"eval/{k}": v for k, v in summary.items()}})
    log.close()
    if fit.accelerator is not None:
        fit.accelerator.wait_for_everyone()
        if not fit.accelerator.is_main_process:  # the files are the main process's to write
            return {"prm_path": str(run_dir.prm_dir), "steps": fit.step}
    run_dir.write_json(
        "eval.json",
        {
            **metrics,
            "train_rows": train_rows,
            "steps": fit.step,
            "train_seconds": train_seconds,
            "model_path": model_path,
        },
    )
    plot_losses(fit.losses, run_dir.plots / "prm_loss.png")
    return {
        "prm_path": str(run_dir.prm_dir),
        "steps": fit.step,
        "final_step_loss": fit.losses[-1] if fit.losses else None,
        "train_seconds": round(train_seconds, 1),
        **summary,
    }


# ---------------------------------------------------------------------- checkpoints


def save(fit: Fit, run_dir: RunDir, cfg: RunConfig) -> None:
    """Checkpoint after `fit.step` batches (atomic; the newest `run.keep_checkpoints` are kept).
    Sharded: every process writes its shards of the model and optimizer (`sharded_checkpoint`)."""
    if fit.accelerator is not None:
        state = {"data_cursor": fit.step, "bad_steps": fit.bad.in_a_row, "layout": sharding.layout()}
        objects = {"scheduler": fit.scheduler.state_dict(), "losses": fit.losses}
        keep = cfg.run.keep_checkpoints
        shards.save(run_dir.checkpoints, fit.step, {"prm": (fit.model, fit.optimizer)}, objects, state, keep)
        return
    objects = {
        "trainable": trainable_state_dict(fit.model),
        "optimizer": fit.optimizer.state_dict(),
        "scheduler": fit.scheduler.state_dict(),
        "losses": fit.losses,
    }
    state = {"data_cursor": fit.step, "bad_steps": fit.bad.in_a_row}
    ckpt.save_checkpoint(run_dir.checkpoints, fit.step, objects, state, cfg.run.keep_checkpoints)


def resume(fit: Fit, run_dir: RunDir) -> None:
    """Load the newest complete checkpoint (and its RNG states); drop log lines written after it."""
    path = ckpt.latest_checkpoint(run_dir.checkpoints)
    if path is None:
        print("cotrl: --resume found no checkpoint; starting from step 0", file=sys.stderr)
        if dist.is_main_process():  # several processes: the main one owns the log
            truncate_jsonl(run_dir.metrics_path, -1)
        return
    if shards.is_sharded_checkpoint(path):  # the launch's layout matches: checked before the run started
        objects = shards.load(path, {"prm": (fit.model, fit.optimizer)}, ["scheduler", "losses"])
        state = json.loads((path / ckpt.STATE).read_text())
    else:
        objects, state = ckpt.load_checkpoint(path, ["trainable", "optimizer", "scheduler", "losses"])
        load_trainable_state_dict(fit.model, objects["trainable"])
        fit.optimizer.load_state_dict(objects["optimizer"])
    fit.scheduler.load_state_dict(objects["scheduler"])
    fit.losses = list(objects["losses"])
    fit.step = int(state["data_cursor"])
    fit.bad.in_a_row = int(state["bad_steps"])
    ckpt.restore_rng(path)
    if dist.is_main_process():
        truncate_jsonl(run_dir.metrics_path, fit.step)
    print(f"cotrl: resumed from {path} (next step {fit.step + 1})", file=sys.stderr)


# ---------------------------------------------------------------------- FSDP2


def shard(fit: Fit, cfg: RunConfig) -> None:
    """Shard the PRM, its optimizer and schedule with accelerate's FSDP2 (an FSDP launch, CPU included).

    Every process trains on the whole batch (the data are not split): the gradients FSDP averages
    are then the one-process gradients, so a sharded run equals a one-process run while each
    process holds 1/R of the weights, gradients and AdamW state; it saves memory, not time.
    """
    accelerator = dist.new_accelerator(cfg.run.device, "no")
    sharding.check_before_prepare(accelerator, fit.model, cfg.lora.enabled, "transformers")
    fit.model, fit.optimizer, fit.scheduler = accelerator.prepare(fit.model, fit.optimizer, fit.scheduler)
    fit.accelerator = accelerator


def unsharded_copy(fit: Fit, cfg: RunConfig, model_path: str) -> Any:
    """The model to save: `fit.model` itself, or under FSDP (every process must call this) a
    plain copy holding the gathered weights on the main process and None on the others."""
    if fit.accelerator is None:
        return fit.model
    full = sharding.full_state_dict(fit.model)  # a collective: rank 0 receives the full tensors
    if not fit.accelerator.is_main_process:
        return None
    model = load_model(cfg, model_path)
    model.load_state_dict(full)
    return model


# ---------------------------------------------------------------------- helpers


def _backbone_body(model: Any) -> torch.nn.Module:
    """The transformer body under the classification head (through a peft wrapper too)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    if not isinstance(body, torch.nn.Module):
        raise ValueError(
            f"prm.lm_coef: cannot find the backbone body of {type(base).__name__}; set prm.lm_coef=0"
        )
    return body


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"run.device {name!r}: CUDA is not available on this machine")
    return torch.device(name)
