"""The `prm` trainer: fit a process reward model and evaluate it ProcessBench-style.

    cotrl train recipes/prm_train.yaml

Data: `prm.data: generate` draws items from data_gen generators and turns each into its gold
trace and one trace with an injected error (labels: good up to the first wrong step, bad from
it on); the held-out set comes from data_gen's test split, so no evaluation problem was seen
in training. `prm.data: file` reads stepwise / PRM800K / Math-Shepherd / ProcessBench JSONL.

Model: a 2-way token-classification head on the causal LM at `model.path` (or the run's own
tiny model for `tiny`, its tokenizer trained on this run's traces), LoRA or full finetuning
per the `lora:` section. Loss: cross-entropy at each step's last token (soft labels allowed).

Threshold: a step is called wrong when P(good) < `prm.threshold`; with `prm.num_val` > 0 the
threshold is instead the one with the best F1 on validation traces held out of training (the
reported F1 is still on the held-out test traces), and it is saved with the PRM.

Writes into the run directory (layout: `rlhf.runtime.rundir`): `prm/` (the trained PRM, LoRA
merged in whether or not `lora.enabled`, so the `prm` step reward loads it without peft or a base;
it is a step classifier, not a policy, so `cotrl eval` and `cotrl export` refuse it by name),
`metrics.jsonl` (loss per logged step, evaluations), `eval.json` (final ProcessBench metrics
and a few example traces), `plots/prm_loss.png`.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import torch

from rewards.prm.convert import convert
from rewards.prm.data import check_row, collate, encode_row, lm_loss, read_rows, step_loss
from rewards.prm.evaluate import calibrate_threshold, predicted_first_error, processbench_f1
from rewards.prm.model import PRMScorer, apply_lora, load_backbone, save_prm
from rlhf.config.recipe import RunConfig
from rlhf.runtime.rundir import RunDir

EvalTrace = tuple[str, list[str], int]  # prompt, steps, first wrong step (-1: none)


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    p = cfg.prm
    if run_dir.resume:
        raise ValueError(
            "the prm trainer keeps no mid-run checkpoints (a tiny PRM trains in minutes); "
            "rerun with --overwrite instead of --resume"
        )
    random.seed(cfg.run.seed)
    torch.manual_seed(cfg.run.seed)
    if cfg.train.cpu_threads:  # shared with the other trainers: 1 is fastest for tiny models
        torch.set_num_threads(cfg.train.cpu_threads)
    rows, evals, vals = load_data(cfg)
    if not rows:
        raise ValueError("prm: no training rows (check prm.train_file / prm.tasks)")
    device = _device(cfg.run.device)

    from rlhf.models.policy import DTYPES, load_tokenizer, resolve_model_path

    corpus = [r["prompt"] for r in rows[:2000]] + [s for r in rows[:2000] for s in r["completions"]]
    model_path = resolve_model_path(cfg, run_dir.root, corpus)
    tokenizer = load_tokenizer(cfg, model_path)
    model = load_backbone(model_path, DTYPES[cfg.model.dtype], cfg.model.trust_remote_code)
    if cfg.lora.enabled:
        model = apply_lora(model, cfg.lora)
    model.to(device)

    encoded = [
        encode_row(tokenizer, r["prompt"], r["completions"], r["labels"], p.separator, p.max_length)
        for r in rows
    ]
    encoded = [e for e in encoded if e.step_positions]
    steps_per_epoch = math.ceil(len(encoded) / p.batch_size)
    total = steps_per_epoch * p.epochs
    params = [x for x in model.parameters() if x.requires_grad]
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay)
    warmup = int(p.warmup_ratio * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (s + 1) / max(warmup, 1) if s < warmup else max(0.0, (total - s) / max(total - warmup, 1)),
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    hidden: dict[str, torch.Tensor] = {}
    if p.lm_coef > 0:  # capture the backbone's final states for the auxiliary next-token loss
        _backbone_body(model).register_forward_hook(lambda _m, _i, out: hidden.__setitem__("h", out[0]))

    from tqdm.auto import tqdm

    losses: list[float] = []
    step = 0
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="prm", unit="step", dynamic_ncols=True)
    rng = random.Random(cfg.run.seed)
    for _epoch in range(p.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order), p.batch_size):
            model.train()
            batch = collate([encoded[i] for i in order[start : start + p.batch_size]], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            prm_loss = step_loss(logits, batch["targets"])
            aux = torch.zeros(())
            if p.lm_coef > 0:
                emb = model.get_input_embeddings().weight
                aux = lm_loss(hidden.pop("h"), emb, batch["input_ids"], batch["lm_mask"])
            loss = prm_loss + p.lm_coef * aux
            if not torch.isfinite(loss):
                raise ValueError(f"prm: loss became {loss.item()} at step {step}; lower prm.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            loss = loss.detach()
            losses.append(float(prm_loss.detach()))  # the step classification loss (the plot's curve)
            bar.update(1)
            bar.set_postfix(step_loss=f"{prm_loss.item():.4f}", lm_loss=f"{aux.item():.3f}")
            if step % max(cfg.run.log_every, 1) == 0 or step == total:
                run_dir.append_jsonl(
                    run_dir.metrics_path,
                    {
                        "step": step,
                        "loss": float(loss),
                        "step_loss": prm_loss.item(),
                        "lm_loss": aux.item(),
                        "lr": sched.get_last_lr()[0],
                        "seconds": time.perf_counter() - t0,
                    },
                )
            if p.eval_every and step % p.eval_every == 0 and step < total:
                metrics = evaluate(model, tokenizer, evals, p, device, vals)
                run_dir.append_jsonl(
                    run_dir.metrics_path,
                    {"step": step, **{f"eval/{k}": v for k, v in metrics.items() if k != "examples"}},
                )
    bar.close()
    train_seconds = time.perf_counter() - t0
    metrics = evaluate(model, tokenizer, evals, p, device, vals)
    from rlhf.models.adapters import save_dir_atomic

    out_dir = save_dir_atomic(  # `prm/`: always one self-contained PRM (LoRA merged in), see RunDir
        run_dir.prm_dir,
        lambda tmp: save_prm(model, tokenizer, tmp, p.separator, p.max_length, metrics["threshold"]),
    )
    summary = {k: v for k, v in metrics.items() if k != "examples"}
    run_dir.append_jsonl(run_dir.metrics_path, {"step": step, **{f"eval/{k}": v for k, v in summary.items()}})
    run_dir.write_json(
        "eval.json",
        {
            **metrics,
            "train_rows": len(encoded),
            "steps": step,
            "train_seconds": train_seconds,
            "model_path": model_path,
        },
    )
    _plot(losses, run_dir.plots / "prm_loss.png")
    return {
        "prm_path": str(out_dir),
        "steps": step,
        "final_step_loss": losses[-1] if losses else None,
        "train_seconds": round(train_seconds, 1),
        **summary,
    }


# ---------------------------------------------------------------------- data


def load_data(cfg: RunConfig) -> tuple[list[dict[str, Any]], list[EvalTrace], list[EvalTrace]]:
    """Training rows (stepwise), held-out test traces and validation traces (`prm.num_val`),
    each trace with its first wrong step."""
    p = cfg.prm
    if p.data == "generate":
        from data_gen.generate import generate
        from data_gen.inject import prm_rows, processbench_rows

        tasks = list(p.tasks)
        knobs = dict(p.knobs)
        items = generate(
            tasks, p.num_train + p.num_val, seed=cfg.run.seed, level=p.level, overrides=knobs, split="train"
        )
        eval_items = generate(
            tasks, p.num_eval, seed=cfg.run.seed, level=p.level, overrides=knobs, split="test"
        )
        rows = list(prm_rows(items[: p.num_train], p.corruptions))

        def traces(its: list[dict[str, Any]]) -> list[EvalTrace]:
            return [(r["problem"], list(r["steps"]), int(r["label"])) for r in processbench_rows(its)]

        return rows, traces(eval_items), traces(items[p.num_train :])
    rows = [
        check_row(r, f"{p.train_file} row {i}")
        for i, r in enumerate(convert(read_rows(p.train_file), p.format, p.neutral))
    ]
    if p.eval_file:
        held = [
            check_row(r, f"{p.eval_file} row {i}")
            for i, r in enumerate(convert(read_rows(p.eval_file), p.format, p.neutral))
        ]
    else:
        cut = max(1, int(len(rows) * (1 - p.eval_fraction)))
        rows, held = rows[:cut], rows[cut:]
    if p.num_val >= len(rows):
        raise ValueError(f"prm.num_val {p.num_val} leaves no training rows (the file has {len(rows)})")
    val = rows[len(rows) - p.num_val :]
    rows = rows[: len(rows) - p.num_val]

    def traces(rs: list[dict[str, Any]]) -> list[EvalTrace]:
        return [(r["prompt"], list(r["completions"]), _first_bad(r["labels"])) for r in rs]

    return rows, traces(held), traces(val)


def _first_bad(labels: list[Any]) -> int:
    for i, label in enumerate(labels):
        if float(label) < 0.5:
            return i
    return -1


# ---------------------------------------------------------------------- evaluation


def evaluate(
    model: Any,
    tokenizer: Any,
    evals: list[EvalTrace],
    p: Any,
    device: torch.device,
    vals: list[EvalTrace] = (),
) -> dict[str, Any]:
    """ProcessBench-style metrics on held-out traces, plus step-level accuracy; with validation
    traces the threshold is calibrated on them first (best F1), else it is `prm.threshold`."""
    if not evals:
        return {"f1": float("nan"), "n_error": 0, "n_correct": 0, "threshold": p.threshold}
    scorer = PRMScorer(model, tokenizer, p.separator, p.max_length, p.eval_batch_size, device)
    threshold, val_f1 = p.threshold, None
    if vals:
        threshold, val_f1 = calibrate_threshold(
            scorer.score([e[0] for e in vals], [e[1] for e in vals]), [e[2] for e in vals]
        )
    scores = scorer.score([e[0] for e in evals], [e[1] for e in evals])
    model.train()
    labels = [e[2] for e in evals]
    predicted = [predicted_first_error(s, threshold) for s in scores]
    out: dict[str, Any] = processbench_f1(predicted, labels)
    if vals:  # the fixed threshold's result too, for comparison
        out["f1_at_fixed_threshold"] = processbench_f1(
            [predicted_first_error(s, p.threshold) for s in scores], labels
        )["f1"]
    out["threshold"], out["val_f1"] = threshold, val_f1
    right = total = 0
    for s, (_, _, label) in zip(scores, evals):  # steps up to and including the first wrong one
        upto = len(s) if label < 0 else label + 1
        for i, x in enumerate(s[:upto]):
            if x is not None:
                total += 1
                right += (x >= threshold) == (label < 0 or i < label)
    out["step_acc"] = right / total if total else float("nan")
    out["examples"] = [
        {
            "prompt": e[0],
            "steps": e[1],
            "label": e[2],
            "predicted": pr,
            "scores": [None if x is None else round(x, 3) for x in s],
        }
        for e, pr, s in list(zip(evals, predicted, scores))[:8]
    ]
    return out


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


def _plot(losses: list[float], path: Path) -> None:
    if not losses:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.8, label="step loss")
    k = max(1, len(losses) // 50)
    if k > 1:
        smooth = [
            sum(losses[max(0, i - k) : i + 1]) / len(losses[max(0, i - k) : i + 1])
            for i in range(len(losses))
        ]
        ax.plot(range(1, len(losses) + 1), smooth, lw=2, label=f"running mean ({k})")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("step cross-entropy")
    ax.set_title("PRM training loss")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
