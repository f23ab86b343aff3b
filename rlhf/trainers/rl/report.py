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
    """A few completions with their outcome and steps, for samples.jsonl (and `cotrl view`).

    Each step carries its score, its verdict (``right`` at score >= 0.5 as `step_accuracy`
    counts, ``wrong`` below, ``unverifiable`` for None), where its text starts in the
    completion (``char_start``, -1 if not found verbatim) and the mean advantage its tokens
    received this step, so one can see which steps the update pushed up or down.
    """
    out = []
    firsts: dict[int, int] = {}
    for i, r in enumerate(col.rollouts):
        firsts.setdefault(r.group, i)
    # one completion per problem first, so the sample spans problems
    order = list(firsts.values()) + [i for i in range(len(col.rollouts)) if i not in firsts.values()]
    adv = getattr(col, "advantages", None)
    for i in order[:limit]:
        r, p = col.rollouts[i], col.problems[i]
        row_adv = _completion_advantages(adv, i, r) if adv is not None else None
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
                "advantage": _mean(row_adv) if row_adv is not None else None,
                "steps": _step_records(r, row_adv),
            }
        )
    return out


def verdict(score: float | None) -> str:
    """right / wrong / unverifiable, at the threshold `step_accuracy` uses."""
    if score is None:
        return "unverifiable"
    return "right" if score >= 0.5 else "wrong"


def _completion_advantages(adv: torch.Tensor, row: int, r: Any) -> list[float]:
    """The advantage of each completion token of batch row `row` (prompt then completion, right-padded)."""
    p = len(r.prompt_ids)
    return adv[row, p : p + len(r.completion_ids)].float().cpu().tolist()


def _step_records(r: Any, row_adv: list[float] | None) -> list[dict[str, Any]]:
    steps, cursor = [], 0
    for s in r.steps:
        at = r.text.find(s.text, cursor) if s.text else -1
        if at >= 0:
            cursor = at + len(s.text)
        rec: dict[str, Any] = {
            "text": s.text,
            "score": s.score,
            "verdict": verdict(s.score),
            "char_start": at,
        }
        if row_adv is not None and s.end > s.start:
            rec["advantage"] = _mean(row_adv[s.start : s.end])
        steps.append(rec)
    return steps


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


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
