"""R1-style distillation (trainer: distill): rejection-sample a teacher, finetune a student.

1. problems: a data_gen task's training split (`distill.generate`) or a file of items;
2. the teacher (`distill.teacher`: any checkpoint `cotrl eval` accepts) samples
   `samples_per_problem` completions per problem through a registered rollout sampler;
3. rejection sampling: a trace is kept when the outcome verifier (`distill.verifier`)
   scores it >= 0.5 and, with `require_correct_steps`, no step is judged wrong by the rule
   step verifier; up to `keep_per_problem` distinct traces per problem go to `traces.jsonl`
   (prompt/completion rows);
4. the student (`model.path`, `tiny` included) is finetuned on those traces by the sft
   trainer itself (`rlhf.trainers.sft.run` with `sft.train_path` pointed at the traces),
   so the shared `train:` knobs (learning rate, schedule, clipping, non-finite-loss policy),
   LoRA, held-out accuracy, checkpoints, `--resume` and outputs are exactly SFT's.
Why a verifier and not the teacher's word: traces with a wrong answer (or a wrong step)
teach the student the teacher's mistakes; filtering is what makes distillation from a
sampler better than imitating it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from rewards.types import Problem
from rlhf.config.reads import SHARED_TRAIN_KEYS, Reads, keys_of
from rlhf.config.recipe import RunConfig
from rlhf.config.supervised import SftSection
from rlhf.runtime.distributed import leader
from rlhf.runtime.rundir import RunDir

READS = Reads(  # what a distill recipe may set; anything else is refused before the run starts
    sections=("run", "model", "tiny", "lora", "distill"),
    keys={
        "train": SHARED_TRAIN_KEYS,
        "sft": keys_of(SftSection, without=("train_path", "generate")),  # the data are the kept traces
        "data": ("system_prompt",),
        "rollout": ("stop",),  # the teacher's stop strings
        "faults": ("sync_check_every",),
    },
    instead={"sft.generate": "distill.generate", "sft.train_path": "distill.problems_path"},
)


def load_problems(cfg: RunConfig) -> tuple[list[Problem], list[Problem]]:
    """(problems to distil, held-out problems); every data error surfaces before a model loads."""
    from rlhf.eval import evaluator as ev

    d = cfg.distill
    if bool(d.generate) == bool(d.problems_path):
        raise ValueError(
            "distill: set exactly one of distill.generate (a data_gen task) and distill.problems_path"
        )
    if d.problems_path:
        return ev.file_problems(d.problems_path, split="train"), []
    g = d.generate
    train = ev.generated_problems(g.task, g.n, "train", g.seed, g.level, dict(g.params))
    held = (
        ev.generated_problems(g.task, d.heldout, "test", g.seed, g.level, dict(g.params)) if d.heldout else []
    )
    return train, held


def sample_traces(cfg: RunConfig, problems: list[Problem]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Teacher samples, verified; returns the kept rows and acceptance statistics."""
    from rewards.registry import REWARDS
    from rewards.step_rewards import RuleStepReward
    from rewards.steps.segment import segment_completion
    from rlhf.data.problems import encode_prompts
    from rlhf.eval import evaluator as ev
    from rlhf.rollout.base import SamplingParams
    from rlhf.runtime.threads import apply_threads

    d = cfg.distill
    if not d.teacher:
        raise ValueError(
            "distill.teacher must name the teacher checkpoint (an HF dir, adapter dir or run dir)"
        )
    verifier = REWARDS.get(d.verifier)()  # unknown name: ValueError listing the rewards
    model_dir, adapter = ev.resolve_checkpoint(d.teacher, d.teacher_base)
    model, tok = ev.load_model(model_dir, adapter)
    apply_threads(cfg.train.cpu_threads, model)  # the teacher's size decides auto
    settings = ev.EvalSettings(backend=d.backend, max_new_tokens=d.max_new_tokens, seed=cfg.run.seed)
    sampler, backend = ev.make_sampler(model, tok, model_dir, settings)
    prompts = encode_prompts(tok, problems, cfg.data.system_prompt)
    params = SamplingParams(
        n=d.samples_per_problem,
        max_new_tokens=d.max_new_tokens,
        temperature=d.temperature,
        stop=cfg.rollout.stop,
        seed=cfg.run.seed,
    )
    from rlhf.runtime.progress import progress

    outs = []
    chunk = 32
    with progress(len(problems), 0, "teacher sampling") as bar:
        for i in range(0, len(prompts), chunk):
            outs += sampler.generate(
                prompts[i : i + chunk], dataclasses.replace(params, seed=cfg.run.seed + i)
            )
            bar.update(min(i + chunk, len(prompts)), "problems")
    flat_p = [p for p in problems for _ in range(d.samples_per_problem)]
    flat_c = [c for comps in outs for c in comps]
    scores = verifier(flat_p, [c.text for c in flat_c])
    ok = [s is not None and s >= 0.5 for s in scores]
    if d.require_correct_steps:
        spans = [segment_completion(c.text, list(c.token_ids), tok) for c in flat_c]
        steps = RuleStepReward().score_steps(flat_p, spans)
        ok = [o and all(x is None or x >= 0.5 for x in row) for o, row in zip(ok, steps)]
    rows = select_traces(
        problems,
        [c.text for c in flat_c],
        ok,
        d.samples_per_problem,
        d.keep_per_problem,
        cfg.data.system_prompt,
    )
    stats = {
        "teacher": d.teacher,
        "teacher_backend": backend,
        "problems": len(problems),
        "samples": len(flat_c),
        "accepted_samples": sum(ok),
        "acceptance_rate": sum(ok) / max(len(ok), 1),
        "problems_solved": len({r["id"] for r in rows}),
        "traces_kept": len(rows),
    }
    return rows, stats


def select_traces(
    problems: list[Problem],
    texts: list[str],
    ok: list[bool],
    per_problem: int,
    keep: int,
    system_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """Up to `keep` distinct accepted texts per problem, in sampling order, as prompt/completion rows.

    `texts`/`ok` hold `per_problem` consecutive entries for each problem.
    """
    from rlhf.data.problems import chat_messages

    rows: list[dict[str, Any]] = []
    for i, p in enumerate(problems):
        seen: set[str] = set()
        for j in range(i * per_problem, (i + 1) * per_problem):
            text = texts[j].strip()
            if ok[j] and text not in seen and len(seen) < keep:
                seen.add(text)
                rows.append(
                    {
                        "id": p.id,
                        "task": p.task,
                        "prompt": chat_messages(p, system_prompt),
                        "completion": text,
                        "answer": p.answer,
                    }
                )
    return rows


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    from rlhf.trainers import sft

    t0 = time.time()
    problems, heldout = load_problems(cfg)
    rows, stats = sample_traces(cfg, problems)
    run_dir.write_json("distill_stats.json", stats)
    if not rows:
        raise ValueError(
            f"distill: the teacher solved none of {len(problems)} problems "
            f"({stats['samples']} samples); nothing to finetune on"
        )
    traces = run_dir.root / "traces.jsonl"
    eval_path = run_dir.root / "heldout.jsonl" if heldout else None
    turn = leader()  # several processes: one writes the files (each sampled the same traces), all read
    if turn.is_leader:
        traces.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        if eval_path is not None:
            eval_path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in heldout), encoding="utf-8")
    turn.wait()
    sft_cfg = dataclasses.replace(
        cfg,
        trainer="sft",
        sft=dataclasses.replace(
            cfg.sft,
            train_path=str(traces),
            generate=None,
            eval_path=str(eval_path) if eval_path else cfg.sft.eval_path,
            eval_fraction=0.0 if eval_path or cfg.sft.eval_path else cfg.sft.eval_fraction,
        ),
    )
    result = sft.run(sft_cfg, run_dir)
    result = {**result, "trainer": "distill", "distill": stats, "wall_s": round(time.time() - t0, 2)}
    run_dir.write_json("result.json", result)
    return result
