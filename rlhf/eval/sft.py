"""SFT held-out examples as evaluator items, so SFT's curve is measured as `cotrl eval` measures.

Loss on a held-out split says little about whether a model answers correctly, so the SFT
trainer also decodes greedily on held-out prompts and scores the answers. It does so
through `rlhf.eval.evaluator.evaluate` on the model in memory (same sampler, prompt
encoding, stop strings and scoring as `cotrl eval`); this module only says how an
`SftExample` becomes an evaluator item and which settings the trainer uses:

- a data_gen row is its own `Problem` (so verifiers such as `math_answer` can check it);
- a chat or prompt/completion row becomes a `Problem` whose answer is the reference
  `rlhf.data.readers` recorded (its `answer` column, else the `<answer>` span of the
  gold completion, else the whole completion), checkable by `exact_match` only.

In both cases the prompt messages are the example's own, exactly what SFT trained on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rewards.types import Problem
from rlhf.data.readers import SftExample
from rlhf.eval.evaluator import EvalSettings
from rlhf.eval.scoring import EXACT_MATCH, scorer_factory

SFT_TASK = "sft"  # task name of evaluator items built from chat / prompt-completion rows
EVAL_BATCH = 16  # rows decoded at once while training (bounds the KV cache next to optimizer state)


def heldout_problems(examples: Sequence[SftExample]) -> list[Problem]:
    """One evaluator item per held-out example, its prompt messages unchanged."""
    out = []
    for i, e in enumerate(examples):
        messages = tuple(dict(m) for m in e.prompt)
        if e.problem is not None:
            out.append(dataclasses.replace(Problem.from_dict(e.problem), messages=messages))
            continue
        user = [m["content"] for m in e.prompt if m["role"] == "user"] or [e.prompt[-1]["content"]]
        out.append(
            Problem(
                id=f"{SFT_TASK}-{i}", task=SFT_TASK, prompt=user[-1], answer=e.answer or "", messages=messages
            )
        )
    return out


def check_metric(metric: str, examples: Sequence[SftExample]) -> None:
    """Refuse, before training, a `sft.eval_metric` the held-out items cannot support."""
    try:
        scorer_factory(metric)
    except ValueError as exc:
        raise ValueError(f"sft.eval_metric={metric!r}: {exc}") from None
    lacking = sum(e.problem is None for e in examples)
    if metric != EXACT_MATCH and lacking:
        raise ValueError(
            f"sft.eval_metric={metric!r} needs data_gen items (answer, meta) to verify; "
            f"{lacking} held-out example(s) are plain prompt/completion rows (use exact_match)"
        )


def sft_settings(metric: str, max_new_tokens: int) -> EvalSettings:
    """`cotrl eval`'s greedy settings with the SFT run's metric and budget.

    The transformers backend decodes with the very model being trained (no copy, no save);
    the rule step verifier is skipped: SFT's curve is `sft.eval_metric` and the format rate.
    """
    return EvalSettings(
        max_new_tokens=max_new_tokens,
        metric=metric,
        backend="transformers",
        batch_size=EVAL_BATCH,
        step_metrics=False,
    )
