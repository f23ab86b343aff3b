"""Math-Shepherd-style Monte Carlo step labels, from any rollout engine.

For each step prefix of a trace, the policy completes the solution `n` times; a step is
good if some completion from it still reaches the right answer (``hard``: any hit -> 1.0)
or by the share that do (``soft``: hits / n). All prefixes of a batch of traces go to the
sampler in one `generate` call, so the engine batches them. The prefix is written in the
gold completion format (``<think>\\n`` + steps joined by newlines), which is what a policy
trained by the SFT recipe continues.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from rewards.steps.verify import answer_matches
from rewards.types import Problem
from rlhf.rollout.base import Sampler, SamplingParams

IsCorrect = Callable[[Problem, str], bool]


def prefix_prompt(tokenizer: Any, problem: Problem, steps: Sequence[str]) -> str:
    """The text the sampler continues: the chat prompt, then the trace so far."""
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(
            list(problem.messages), tokenize=False, add_generation_prompt=True
        )
    else:
        head = problem.prompt + "\n"
    return head + "<think>\n" + "".join(s + "\n" for s in steps)


def mc_labels(
    sampler: Sampler,
    tokenizer: Any,
    problems: Sequence[Problem],
    traces: Sequence[Sequence[str]],
    *,
    n: int = 8,
    max_new_tokens: int = 128,
    temperature: float = 1.0,
    mode: Literal["hard", "soft"] = "hard",
    seed: int | None = 0,
    is_correct: IsCorrect | None = None,
) -> list[list[float]]:
    """One label per step of each trace (see the module docstring)."""
    if mode not in ("hard", "soft"):
        raise ValueError(f"mc mode {mode!r} must be 'hard' or 'soft'")
    if len(problems) != len(traces):
        raise ValueError(f"{len(problems)} problems for {len(traces)} traces")
    check = is_correct or default_is_correct
    prompts: list[list[int]] = []
    where: list[tuple[int, int]] = []
    for i, (problem, steps) in enumerate(zip(problems, traces)):
        for k in range(1, len(steps) + 1):
            text = prefix_prompt(tokenizer, problem, steps[:k])
            prompts.append(tokenizer.encode(text, add_special_tokens=False))
            where.append((i, k - 1))
    labels: list[list[float]] = [[0.0] * len(t) for t in traces]
    if not prompts:
        return labels
    params = SamplingParams(n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    outs = sampler.generate(prompts, params)
    for (i, k), completions in zip(where, outs):
        done = "<think>\n" + "".join(s + "\n" for s in traces[i][: k + 1])
        hits = [check(problems[i], done + c.text) for c in completions]
        labels[i][k] = float(any(hits)) if mode == "hard" else sum(hits) / max(len(hits), 1)
    return labels


def default_is_correct(problem: Problem, completion: str) -> bool:
    """The completion's `<answer>` (or last boxed / 'answer is') matches the problem's answer."""
    return answer_matches(completion, problem.answer)


def mc_rows(
    problems: Sequence[Problem],
    traces: Sequence[Sequence[str]],
    labels: Sequence[Sequence[float]],
    mode: str = "hard",
) -> list[dict[str, Any]]:
    """Stepwise rows from MC labels (bools for hard labels, floats for soft)."""
    return [
        {
            "prompt": p.prompt,
            "completions": list(t),
            "labels": [bool(x) if mode == "hard" else float(x) for x in lab],
        }
        for p, t, lab in zip(problems, traces, labels)
    ]
