"""What an RL run shows and leaves behind: progress bar, step records, samples, plots, final model."""

from __future__ import annotations

import math
from typing import Any

import torch

from rlhf.algos import ADVANTAGES, EstimatorInfo, batch_holds, kl_penalty, masked_mean
from rlhf.algos.types import RolloutBatch
from rlhf.runtime.metrics import write_plots
from rlhf.runtime.progress import progress as progress  # the loops call report.progress


def step_info(record: dict[str, Any]) -> str:
    parts = []
    for key, fmt in (
        ("reward_mean", "r={:.3f}"),
        ("accuracy", "acc={:.2f}"),
        ("kl", "kl={:.4f}"),
        ("seconds", "{:.2f}s"),
    ):
        v = record.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(fmt.format(v))
    return " ".join(parts)


@torch.no_grad()
def batch_metrics(
    batch: RolloutBatch, advantages: torch.Tensor, cfg: Any, info: EstimatorInfo | None = None
) -> dict[str, float]:
    """Mean |advantage|, KL to the reference at rollout time, and for an estimator made of parts
    (`EstimatorInfo.parts`, e.g. mixed's outcome and process parts) each part's mean |advantage|
    before weighting, ``adv_<label>_abs``, so one can see which signal dominates. A part is
    logged when the batch holds what it reads (a process part needs a scored step)."""
    mask = batch.response_mask
    out: dict[str, float] = {"adv_abs_mean": float(masked_mean(advantages.abs(), mask))}
    if batch.ref_logprobs is not None:
        kl = kl_penalty(batch.old_logprobs, batch.ref_logprobs, cfg.kl_estimator)
        out["kl"] = float(masked_mean(torch.where(mask > 0, kl, 0.0), mask))
    for label, name in info.parts if info is not None else ():
        part_info = ADVANTAGES.info(name)
        if part_info is not None and batch_holds(batch, part_info.reads):
            out[f"adv_{label}_abs"] = float(masked_mean(ADVANTAGES.get(name)(batch, cfg).abs(), mask))
    return out


def sample_records(step: int, col: Any, limit: int) -> list[dict[str, Any]]:
    """A few completions with their outcome and step scores, for samples.jsonl."""
    out = []
    firsts: dict[int, int] = {}
    for i, r in enumerate(col.rollouts):
        firsts.setdefault(r.group, i)
    # one completion per problem first, so the sample spans problems
    order = list(firsts.values()) + [i for i in range(len(col.rollouts)) if i not in firsts.values()]
    for i in order[:limit]:
        r, p = col.rollouts[i], col.problems[i]
        out.append(
            {
                "step": step,
                "problem_id": p.id,
                "task": p.task,
                "prompt": p.prompt,
                "answer": p.answer,
                "completion": r.text,
                "finish_reason": r.finish_reason,
                "outcome": r.outcome,
                "steps": [{"text": s.text, "score": s.score} for s in r.steps],
            }
        )
    return out


def finish(rl: Any) -> dict[str, Any]:
    """Save the final policy (`adapter/` under LoRA, `model/` otherwise), draw plots, close sinks."""
    from rlhf.models.adapters import save_final
    from rlhf.runtime.sharding import full_state_dict, is_sharded

    out_dir = rl.run_dir.final_dir(rl.policy.lora)
    plot = None
    full = (
        full_state_dict(rl.unwrapped) if is_sharded(rl.unwrapped) else None
    )  # FSDP: all gather, rank 0 keeps
    if rl.accelerator.is_main_process:  # several processes hold the same weights; one writes them
        save_final(rl.run_dir, rl.unwrapped, rl.policy.tokenizer, lora=rl.policy.lora, state_dict=full)
        plot = write_plots(rl.run_dir.metrics_path, rl.run_dir.plots)
    rl.log.close()
    rl.accelerator.wait_for_everyone()
    return {"model_dir": str(out_dir), "plot": str(plot) if plot else None}
