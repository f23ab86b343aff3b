"""Held-out task evaluation for SFT: greedy generation scored by exact match or a verifier.

Loss on a held-out split says little about whether a model answers correctly, so the
SFT trainer also generates on held-out prompts and scores the answers: exact match on
the `<answer>` span (numbers compared as numbers), or a registered outcome reward
(`rewards.registry.REWARDS`) when the items are data_gen problems a verifier can check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch

from rlhf.data.readers import SftExample, extract_answer

_FORMAT_RE = re.compile(r"^\s*<think>.*</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


def answers_match(predicted: str, reference: str) -> bool:
    """Exact match after whitespace normalisation; numbers (incl. a/b) compare by value."""
    a, b = " ".join(predicted.split()), " ".join(reference.split())
    if a == b:
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


def _number(text: str) -> float | None:
    t = text.replace(",", "").strip()
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den)
        return float(t)
    except (ValueError, ZeroDivisionError):
        return None


def make_scorer(metric: str, examples: Sequence[SftExample]):
    """`scorer(examples, completions) -> list[float | None]` for `sft.eval_metric`."""
    if metric == "exact_match":
        return lambda exs, comps: [
            None if e.answer is None else float(answers_match(extract_answer(c), e.answer))
            for e, c in zip(exs, comps)
        ]
    from rewards.registry import REWARDS
    from rewards.types import Problem

    factory = REWARDS.get(metric)  # unknown name: ValueError listing the registered rewards
    lacking = [i for i, e in enumerate(examples) if e.problem is None]
    if lacking:
        raise ValueError(
            f"sft.eval_metric={metric!r} needs data_gen items (answer, meta) to verify; "
            f"{len(lacking)} held-out example(s) are plain prompt/completion rows"
        )
    reward = factory()
    return lambda exs, comps: list(reward([Problem.from_dict(e.problem) for e in exs], list(comps)))


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[dict[str, str]]],
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[str]:
    """Greedy completions for chat prompts (left-padded batches; stops at the tokenizer's eos)."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    extra: dict[str, Any] = {}
    if getattr(getattr(model, "config", None), "output_router_logits", False):
        # MoE: the router aux loss is for training; under a KV cache its mask shapes disagree
        extra["output_router_logits"] = False
    out: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            texts = [
                tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
                for p in prompts[i : i + batch_size]
            ]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                **extra,
            )
            out.extend(tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return out


def evaluate(
    model: Any, tokenizer: Any, examples: Sequence[SftExample], metric: str, max_new_tokens: int, scorer=None
) -> dict[str, Any]:
    """Accuracy (mean over checkable items), format rate (<think>..</think><answer>..</answer>), a few samples."""
    if not examples:
        return {}
    scorer = scorer or make_scorer(metric, examples)
    completions = generate(model, tokenizer, [e.prompt for e in examples], max_new_tokens)
    scores = scorer(examples, completions)
    checked = [s for s in scores if s is not None]
    return {
        "accuracy": sum(checked) / len(checked) if checked else float("nan"),
        "checked": len(checked),
        "items": len(examples),
        "format_rate": sum(bool(_FORMAT_RE.match(c)) for c in completions) / len(completions),
        "samples": [
            {"prompt": e.prompt[-1]["content"], "completion": c, "reference": e.answer, "score": s}
            for e, c, s in list(zip(examples, completions, scores))[:3]
        ],
    }


def load_for_eval(model: str, adapter: str | None = None) -> tuple[Any, Any]:
    """A plain HF dir, or a base dir plus a LoRA adapter dir (tokenizer from the adapter when saved there)."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    net = AutoModelForCausalLM.from_pretrained(model)
    tok_src = model
    if adapter:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, adapter)
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tok_src = adapter
    return net, AutoTokenizer.from_pretrained(tok_src)


def main(argv: list[str] | None = None) -> int:
    """`python -m rlhf.eval.sft MODEL [--adapter DIR] --task finance`: held-out accuracy on a generator's test split."""
    import argparse
    import json

    from rlhf.config.recipe import SftGenerateSpec
    from rlhf.data.readers import generated_examples

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("model")
    ap.add_argument("--adapter")
    ap.add_argument("--task", required=True)
    ap.add_argument("--params", default="{}", help="generator knobs as JSON")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metric", default="exact_match")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    args = ap.parse_args(argv)
    spec = SftGenerateSpec(task=args.task, n=args.n, seed=args.seed, params=json.loads(args.params))
    examples = generated_examples(spec, "domain", split="test")
    net, tok = load_for_eval(args.model, args.adapter)
    res = evaluate(net, tok, examples, args.metric, args.max_new_tokens)
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
