"""The runs `bench_process_vs_outcome.py` compares, one function each (picklable: `--jobs` spawns them).

Every function takes the bench's settings and work directory explicitly, so a spawned process
runs what the parent was asked for.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

from common import ROOT  # noqa: F401  (puts the repo on sys.path)

from rlhf.demo import pipeline as demo  # noqa: E402
from rlhf.runtime.jobs import run_jobs  # noqa: E402
from rlhf.runtime.metrics import read_metrics  # noqa: E402

STEP_RULE = "{name: rule, params: {credit: answer_chain}}"
PROCESS = ("algo.step_norm=count",)
GRPO_EXTRA: dict[str, tuple[str, ...]] = {
    "outcome": ("rewards=[{name: math_answer}]", "algo.advantage=grpo"),
    "process_grpo": (
        f"rewards=[{{name: math_answer}}, {STEP_RULE}]",
        "algo.advantage=process_grpo",
        *PROCESS,
    ),
    "mixed": (f"rewards=[{{name: math_answer}}, {STEP_RULE}]", "algo.advantage=mixed", *PROCESS),
}


# ---------------------------------------------------------------------- one run each


def _curve(run_dir: Path, base: str, heldout: str, s: demo.DemoSettings) -> list[dict[str, Any]]:
    """Held-out accuracy, step and trace accuracy at every GRPO checkpoint (and the SFT start)."""
    from rlhf.eval import evaluator as ev
    from rlhf.models.policy import load_trainable_state_dict
    from rlhf.runtime import checkpoint as ckpt

    model, tok = ev.load_model(base)
    points = [(0, demo.evaluate_model(model, tok, heldout, s, k=0))]
    for p in model.parameters():
        p.requires_grad_(True)
    for path in ckpt.list_checkpoints(run_dir / "checkpoints"):
        objects, state = ckpt.load_checkpoint(path, ["trainable"])
        load_trainable_state_dict(model, objects["trainable"])
        points.append((int(state["data_cursor"]), demo.evaluate_model(model, tok, heldout, s, k=0)))
    secs = [r.get("seconds", 0.0) for r in read_metrics(run_dir / "metrics.jsonl")]
    cum = [sum(secs[:i]) for i in range(len(secs) + 1)]
    return [_point(st, res, cum[min(st, len(secs))]) for st, res in points]


def _point(step: int, res: dict[str, Any], train_s: float) -> dict[str, Any]:
    """One evaluation, with the greedy completions' length and truncation (a policy that stops
    writing its steps, or runs past the token budget, shows there before in step accuracy)."""
    return {
        "step": step,
        "accuracy": res["accuracy"],
        "step_accuracy": res["step_accuracy"],
        "trace_accuracy": res["trace_accuracy"],
        "mean_length": round(res["mean_length"], 1),
        "truncation_rate": res["truncation_rate"],
        "train_s": round(train_s, 1),
    }


def _padding_share(run_dir: Path) -> float | None:
    """Share of logged rollouts with a claim-making step that does no work (`rewards.steps.credit`)."""
    from rewards.steps.credit import is_padded

    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    flags = [is_padded([st["text"] for st in r["steps"]], r["prompt"]) for r in rows]
    return sum(flags) / len(flags) if flags else None


def step_auroc(run_dir: Path, problems_path: str) -> float | None:
    """How well the loop's step scores rank the steps that the rule verifier, as a judge after the
    run, finds right above the ones it finds wrong: AUROC over the logged rollouts of the run's
    second half (0.5: no better than chance; None: no step scores, or one verdict only)."""
    from rewards.step_rewards import RuleStepReward
    from rewards.types import StepSpan
    from rlhf.data.problems import load_jsonl_problems

    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    half = (max(r["step"] for r in rows) + 1) // 2  # steps 0..n-1: the last n // 2
    rows = [r for r in rows if r["step"] >= half]
    problems = {p.id: p for p in load_jsonl_problems(problems_path)}
    verdicts = RuleStepReward().score_steps(
        [problems[r["problem_id"]] for r in rows],
        [[StepSpan(0, 0, st["text"]) for st in r["steps"]] for r in rows],
    )
    right, wrong = [], []
    for r, vs in zip(rows, verdicts):
        for st, v in zip(r["steps"], vs):
            if st.get("score") is not None and v is not None:
                (right if v >= 0.5 else wrong).append(float(st["score"]))
    if not right or not wrong:
        return None
    wrong.sort()
    ranks = sum(
        bisect.bisect_left(wrong, x) + 0.5 * (bisect.bisect_right(wrong, x) - bisect.bisect_left(wrong, x))
        for x in right
    )
    return round(ranks / (len(right) * len(wrong)), 4)


def _recorded(work: Path, key: str, inputs: dict[str, Any], compute: Any) -> Any:
    """`compute()`'s result, kept in work/records/KEY.json with the `inputs` it was computed from:
    rerunning the bench after an interruption reuses the runs that finished with the same inputs
    (other settings, another SFT model: the run is redone)."""
    path = work / "records" / f"{key}.json"
    inputs = json.loads(json.dumps(inputs, default=str))
    if path.is_file():
        kept = json.loads(path.read_text())
        if isinstance(kept, dict) and kept.get("inputs") == inputs:
            return kept["result"]
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"inputs": inputs, "result": result}))
    tmp.replace(path)
    return result


def run_grpo(
    base: demo.DemoSettings,
    work: Path,
    variant: str,
    seed: int,
    sft: str,
    data: dict,
    prm: str | None = None,
    arm: str = "",
    extra: tuple[str, ...] = (),
    step_reward: str | None = None,
    key: str | None = None,
) -> dict:
    """One GRPO run of `variant` (a key of GRPO_EXTRA; with `prm`, that advantage on PRM step scores;
    `step_reward`, a recipe's reward entry, takes the rule step reward's place instead, e.g. the
    implicit PRM; `extra`: recipe overrides chosen on validation, e.g. algo.kl_coef). `key` names the
    run (default: the arm or variant, and the seed)."""
    if prm is not None:
        step_reward = f"{{name: prm, params: {{path: {prm}}}}}"
    key = key or f"{arm or variant}_seed{seed}"
    inputs = {
        "settings": dataclasses.asdict(base),
        "variant": variant,
        "seed": seed,
        "sft": sft,
        "prm": prm,
        "extra": list(extra),
        **({"step_reward": step_reward} if step_reward and prm is None else {}),
    }
    return _recorded(
        work, key, inputs, lambda: _grpo(base, work, variant, seed, sft, data, step_reward, arm, extra, key)
    )


def _grpo(
    base: demo.DemoSettings,
    work: Path,
    variant: str,
    seed: int,
    sft: str,
    data: dict,
    step_reward: str | None,
    arm: str,
    tuned: tuple[str, ...],
    key: str,
) -> dict:
    s = dataclasses.replace(base, seed=seed)
    extra = list(GRPO_EXTRA[variant])
    if step_reward is not None:
        extra[0] = f"rewards=[{{name: math_answer}}, {step_reward}]"
    name = arm or variant
    out = work / key
    n = s.prompts_per_step * s.group_size
    cfg = demo.grpo_config(s, out, sft, data["train"], (*extra, f"train.samples_per_step={n}", *tuned))
    t0 = time.perf_counter()
    demo.train(cfg)
    wall = time.perf_counter() - t0
    zv = [r["zero_variance_frac"] for r in read_metrics(out / "metrics.jsonl") if "zero_variance_frac" in r]
    val = demo.evaluate_dir(str(out / "model"), data["val"], s, k=0)["accuracy"] if not arm else None
    return {
        "arm": name,
        "variant": variant,
        "seed": seed,
        "wall_s": round(wall, 1),
        "zero_advantage_frac": sum(zv) / len(zv) if zv else None,
        "padding_frac": _padding_share(out),
        "step_auroc": step_auroc(out, data["train"]),
        "val_accuracy": val,
        "kl_final": _last_kl(out),
        "curve": _curve(out, sft, data["heldout"], s),
    }


def _last_kl(run_dir: Path) -> float | None:
    """Mean KL to the reference (the SFT model) over the run's last 5 logged steps (None: no reference)."""
    kl = [r["kl"] for r in read_metrics(run_dir / "metrics.jsonl") if r.get("kl") is not None]
    return round(sum(kl[-5:]) / len(kl[-5:]), 5) if kl else None


def run_tune(
    base: demo.DemoSettings, work: Path, name: str, extra: tuple[str, ...], seed: int, sft: str, data: dict
) -> dict:
    """One tuning run: outcome-only GRPO under candidate settings `base` + `extra`, scored on the
    VALIDATION split at its end. No test-split number is computed here, so a choice made from
    these results cannot have seen the test split."""
    key = f"tune_{name}_seed{seed}"
    inputs = {"settings": dataclasses.asdict(base), "extra": list(extra), "seed": seed, "sft": sft}
    return _recorded(work, key, inputs, lambda: _tune(base, work, name, extra, seed, sft, data))


def _tune(
    base: demo.DemoSettings, work: Path, name: str, extra: tuple[str, ...], seed: int, sft: str, data: dict
) -> dict:
    s = dataclasses.replace(base, seed=seed, eval_every=0)  # one checkpoint: the end
    out = work / "tune" / f"{name}_seed{seed}"
    n = s.prompts_per_step * s.group_size
    overrides = (*GRPO_EXTRA["outcome"], f"train.samples_per_step={n}", *extra)
    t0 = time.perf_counter()
    demo.train(demo.grpo_config(s, out, sft, data["train"], overrides))
    wall = time.perf_counter() - t0
    rows = read_metrics(out / "metrics.jsonl")
    zv = [r["zero_variance_frac"] for r in rows if "zero_variance_frac" in r]
    val = demo.evaluate_dir(str(out / "model"), data["val"], s, k=0)
    return {
        "name": name,
        "seed": seed,
        "extra": list(extra),
        "wall_s": round(wall, 1),
        "zero_advantage_frac": sum(zv) / len(zv) if zv else None,
        "kl_final": _last_kl(out),
        "val": _point(s.grpo_steps, val, sum(r.get("seconds", 0.0) for r in rows)),
    }


def run_sft_continued(
    base: demo.DemoSettings, work: Path, seed: int, sft: str, data: dict, train_s: float
) -> dict:
    """The warm start trained on on gold solutions for about `train_s` seconds of optimizer steps
    (the outcome arm's summed step seconds: rollouts, scoring and updates, no setup or evaluation)."""
    key = f"sft_continued_seed{seed}"
    inputs = {"settings": dataclasses.asdict(base), "seed": seed, "sft": sft, "train_s": train_s}
    return _recorded(work, key, inputs, lambda: _sft_continued(base, work, seed, sft, data, train_s))


CALIBRATION_STEPS = 20  # SFT steps timed just before the run, under the load the run will see


def sft_steps_for(train_s: float, step_times: list[float]) -> int:
    """SFT steps that fill `train_s` seconds at the median of the timed steps (the first, which
    pays for warm-up, left out when there are others)."""
    times = step_times[1:] or step_times
    if not times or train_s <= 0:
        raise ValueError(f"sft_steps_for: need timed steps and a positive budget, got {times!r}, {train_s}")
    return max(1, round(train_s / statistics.median(times)))


def _sft_cfg(s: demo.DemoSettings, out: Path, seed: int, sft: str, data: dict, steps: int) -> Any:
    return demo.recipe(
        "sft_warmstart",
        [
            f"run.output_dir={out}",
            f"run.seed={seed}",
            "run.device=cpu",
            "sft.generate=null",
            f"sft.train_path={data['train']}",
            f"sft.eval_path={data['val']}",
            "sft.eval_max_items=1",  # its before/after scores are not used (the test split is scored below)
            "sft.eval_every=0",
            "sft.eval_metric=math_answer",
            f"sft.eval_max_new_tokens={s.max_new_tokens}",
            f"model.path={sft}",
            f"sft.max_steps={steps}",
            f"sft.batch_size={s.sft_batch}",
            f"train.lr={s.sft_lr / 4}",  # past the warm start: a quarter of its peak
            f"train.cpu_threads={s.threads}",
        ],
    )


def _step_times(run_dir: Path) -> list[float]:
    return [r["step_time"] for r in read_metrics(run_dir / "metrics.jsonl") if "step_time" in r]


def _sft_continued(
    base: demo.DemoSettings, work: Path, seed: int, sft: str, data: dict, train_s: float
) -> dict:
    s = dataclasses.replace(base, seed=seed)
    cal = work / f"sft_continued_seed{seed}_calibration"
    demo.train(_sft_cfg(s, cal, seed, sft, data, CALIBRATION_STEPS))
    steps = sft_steps_for(train_s, _step_times(cal))
    out = work / f"sft_continued_seed{seed}"
    t0 = time.perf_counter()
    res = demo.train(_sft_cfg(s, out, seed, sft, data, steps))
    wall = time.perf_counter() - t0
    got = sum(_step_times(out))
    start = demo.evaluate_dir(sft, data["heldout"], s, k=0)
    end = demo.evaluate_dir(res["outputs"]["model"], data["heldout"], s, k=0)
    return {
        "arm": "sft_continued",
        "variant": "sft",
        "seed": seed,
        "wall_s": round(wall, 1),
        "sft_steps": steps,
        "train_s_budget": round(train_s, 1),
        "train_s": round(got, 1),
        "zero_advantage_frac": None,
        "padding_frac": None,
        "val_accuracy": None,
        "curve": [_point(0, start, 0.0), _point(base.grpo_steps, end, got)],
    }


def train_prm(base: demo.DemoSettings, work: Path, sft: str, prm: dict[str, Any]) -> tuple[str, dict]:
    """`trainer: prm` on error-injection traces of the regime's family, the SFT model as backbone."""
    inputs = {"knobs": base.knobs, "sft": sft, "prm": prm}
    return tuple(_recorded(work, "prm", inputs, lambda: _train_prm(base, work, sft, prm)))


def _train_prm(base: demo.DemoSettings, work: Path, sft: str, prm: dict[str, Any]) -> tuple[str, dict]:
    knobs = base.knobs
    cfg = demo.recipe(
        "prm_on_policy",
        [
            f"run.output_dir={work / 'prm'}",
            "run.device=cpu",
            f"model.path={sft}",
            f"prm.knobs={knobs}",
            *(f"prm.{k}={v}" for k, v in prm.items()),
            "prm.eval_every=0",
            "train.cpu_threads=1",
        ],
    )
    t0 = time.perf_counter()
    demo.train(cfg)
    ev = json.loads((work / "prm" / "eval.json").read_text())
    keep = {k: v for k, v in ev.items() if isinstance(v, (int, float))}
    return str(work / "prm" / "prm"), keep | {"wall_s": round(time.perf_counter() - t0, 1)}


def pool(jobs: list[tuple], n: int) -> list[Any]:
    """The jobs' results in order, `n` spawned processes with one torch thread each."""
    return run_jobs(jobs, n)


# ---------------------------------------------------------------------- the comparison
