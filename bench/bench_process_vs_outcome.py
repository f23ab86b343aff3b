"""Process-supervised vs outcome-only GRPO on 4-step arithmetic chains, from one SFT warm start, same budget.

Regime: data_gen's integer_arithmetic with exactly 5 one-digit operands joined by + and - (4
checkable rewrite steps, `steps_per_problem_min`). Warm start in two stages: recipes/sft_warmstart.yaml
as written (the tiny model on 2-3 operand problems; `--base` reuses its output), then SFT on this
regime's gold solutions until validation accuracy (train-split items never trained on) reaches
`sft_stop_at`, so outcome rewards are sparse while most traces still hold several right steps.
Arms, all from that SFT model, `--steps` GRPO steps each (same prompts, samples and settings):
- outcome: rewards [math_answer], advantage grpo;
- process_rule: rewards [math_answer, rule (credit: answer_chain)], `step_norm: count`, with the
  advantage `process_grpo` or `mixed` chosen on the validation split (seed 0 of both, final
  checkpoint, validation accuracy; never the test split);
- process_prm: the chosen advantage with a learned PRM as the step reward: `trainer: prm` on
  data_gen error-injection traces of the same family, the SFT model as its backbone; no rule
  verifier in this arm's loop;
- sft_continued: the SFT model trained on on gold solutions for about the outcome arm's training
  seconds (same seed; summed step times on both sides, steps from a 20-step timing run just before);
- process_implicit (only when named in `--arms`; its own result, `..._implicit.json`): the chosen
  advantage with the PRIME-style implicit PRM (`implicit_prm`: token log-ratios of a reward model
  learnt online from outcome labels, started from the SFT model) as the step reward; no rule
  verifier and no step label in its loop; lr and loss balancing chosen on validation (seed 0).
RL settings (lr; then KL to the warm start, temperature, group size) are chosen first by
`process_tune` on the validation split: one-seed outcome runs of the full budget, never the test split.
Held-out accuracy, step and trace accuracy (greedy, the test split, rule verifier as the judge)
at every `--eval-every`-th checkpoint. `ratio` = outcome budget / steps process_rule needs to
reach outcome's final mean accuracy (goal 2.5); never reached counts as the whole budget.
Padding share: completions among the run's logged rollouts with a claim-making step off their
answer's dependency chain (`rewards.steps.credit`).

    python bench/bench_process_vs_outcome.py [--steps 50] [--seeds 0 1 2] [--jobs 3]

Few-gold regime (`--gold N`, its own work directory and result file): stage 2 and sft_continued
see only the first N training items' gold solutions; the RL arms get every training prompt with
its answer (and the rule step checker), never a gold solution. This is the setting RL is for:
demonstrations are scarce, checkable prompts are not. `--tuned-from RESULT.json` takes the RL
settings and the process advantage recorded there (chosen on validation for that result's warm
start) instead of tuning again; `--arms` runs a subset (process_prm needs its own PRM training).

Converged regime (`--converged`, its own work directory and result file): stage 2 runs its whole
`sft_steps` schedule with no early stop, so `sft_continued` starts from an SFT model that has
stopped improving: the comparison a sceptic asks for once SFT has done what it can. RL settings are
tuned again on validation for that warm start. Its start lies above the 10-30% band.

`--jobs N` runs N arms at once (spawned processes, one torch thread each); recorded wall
times are then those of runs sharing the machine. `--resummarize` rebuilds the JSON and plot.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import process_tune  # noqa: E402
from common import RESULTS, ROOT, write_result  # noqa: E402  (also puts the repo on sys.path)
from process_arms import pool, run_grpo, run_sft_continued, run_tune, train_prm  # noqa: E402

from rlhf.demo import pipeline as demo  # noqa: E402

WORK = ROOT / "runs" / "bench_process_vs_outcome"
BASE_WORK = WORK  # stage 1 is shared by every variant of the bench
ARMS = ("outcome", "process_rule", "process_prm", "sft_continued", "process_implicit")
DEFAULT_ARMS = ARMS[:4]  # process_implicit runs when asked for (`--arms`), into a result of its own
SETTINGS = dataclasses.replace(
    demo.DemoSettings(),
    knobs="{min_operands: 5, max_operands: 5, max_digits: 1, mul_prob: 0.0}",  # 4 rewrite steps each
    n_train=6000,  # the demo's training-set size when the published numbers were measured
    n_val=200,  # validation items (training split, never trained on): the tuning's scores
    n_heldout=100,
    sft_steps=1500,
    sft_stop_at=0.2,
    sft_eval_every=100,
    sft_lr=2e-3,
    sft_batch=32,
    max_new_tokens=112,
    prompts_per_step=4,
    group_size=8,
    grpo_lr=1e-4,  # the tuning's starting point; the arms get what `process_tune` chooses
    grpo_temperature=0.7,  # the setting its published numbers were measured with (the demo's is now 1.0)
    grpo_async=False,  # synchronous GRPO, as measured (the demo's is now async)
    grpo_steps=50,
    eval_every=10,
)
SFT_STOP_ITEMS = 64  # the warm start's stopping check scores the first 64 validation items
# stage 1 as measured: the recipe's 1500 steps on 6000 items, before it stopped at validation 0.30
STAGE1 = (
    "sft.generate.n=6000",
    "sft.generate.val_n=0",
    "sft.stop_at_accuracy=null",
    "sft.eval_every=500",
    "sft.eval_max_items=100",
)
# few-gold stage 2 (`--gold`): the whole schedule, no early stop, so the warm start has converged on
# its gold items. On validation (100 items, 1000 steps): 300 items plateau at 0.13-0.14 from step
# 600 (inside the 10-30% band); 1000 items climb to 0.63.
GOLD_STAGE2 = {"sft_stop_at": None, "sft_steps": 1000}
CONVERGED_STAGE2 = {"sft_stop_at": None}  # `--converged`: the whole 1500-step schedule on every item
PRM = {"num_train": 1500, "num_val": 100, "num_eval": 100, "corruptions": 2, "epochs": 3}
# process_implicit: the PRIME-style implicit PRM (`implicit_prm`, from the SFT model) in the rule
# verifier's place; beta as PRIME; its learning rate and whether the loss balances right and wrong
# completions chosen on validation (seed 0) from these, ties to the earlier
IMPLICIT_BETA = 0.05
IMPLICIT_CANDIDATES = (
    {"lr": 5e-5, "balance": False},
    {"lr": 5e-4, "balance": False},
    {"lr": 5e-5, "balance": True},
    {"lr": 5e-4, "balance": True},
)


def implicit_entry(sft: str, cand: dict[str, Any]) -> str:
    """The recipe's reward entry of one candidate (lr written with a dot: YAML 1.1 reads 5e-05 as text)."""
    params = (
        f"path: {sft}, beta: {IMPLICIT_BETA}, lr: {cand['lr']:.1e}, balance: {str(cand['balance']).lower()}"
    )
    return f"{{name: implicit_prm, params: {{{params}}}}}"


def _iname(cand: dict[str, Any]) -> str:
    return f"implicit_lr{cand['lr']:g}" + ("_balanced" if cand["balance"] else "")


def sft_stage2_config(base: str, data: dict) -> Any:
    """Warm start, stage 2: the base model finetuned on the regime's gold solutions until its
    validation accuracy (train-split items never trained on) reaches `sft_stop_at` (None: the
    whole `sft_steps` schedule)."""
    s = SETTINGS
    return demo.recipe(
        "sft_warmstart",
        [
            f"run.output_dir={WORK / 'sft'}",
            f"run.seed={s.seed}",
            "run.device=cpu",
            "run.log_every=10",
            "sft.generate=null",
            f"sft.train_path={data['train']}",
            f"sft.eval_path={data['val']}",
            f"sft.eval_max_items={SFT_STOP_ITEMS}",
            f"sft.eval_every={s.sft_eval_every}",
            "sft.eval_metric=math_answer",
            f"sft.stop_at_accuracy={'null' if s.sft_stop_at is None else s.sft_stop_at}",
            f"sft.eval_max_new_tokens={s.max_new_tokens}",
            f"model.path={base}",
            f"sft.max_steps={s.sft_steps}",
            f"sft.batch_size={s.sft_batch}",
            f"train.lr={s.sft_lr}",
            f"train.cpu_threads={s.threads}",
        ],
    )


def prepare(args: argparse.Namespace) -> tuple[str, dict, dict]:
    """Data and the SFT warm start: stage 1 is recipes/sft_warmstart.yaml at the settings it was
    measured with (STAGE1; 2-3 operands; `--base` reuses its output), stage 2 continues it on this
    regime (`--sft` or a previous run's)."""
    WORK.mkdir(parents=True, exist_ok=True)
    data = demo.make_data(SETTINGS, WORK)
    gold = gold_data(data, args.gold)
    sft = args.sft or str(WORK / "sft" / "model")
    summary_path = WORK / "sft_summary.json"
    if not (Path(sft) / "config.json").is_file():
        base = args.base
        if not base:
            base = str(BASE_WORK / "base" / "model")
            if not (Path(base) / "config.json").is_file():
                cfg = demo.recipe(
                    "sft_warmstart", [f"run.output_dir={BASE_WORK / 'base'}", "run.device=cpu", *STAGE1]
                )
                base = demo.train(cfg)["outputs"]["model"]
        res = demo.train(sft_stage2_config(base, gold))
        sft = res["outputs"]["model"]
        summary_path.write_text(json.dumps({"steps": res.get("steps"), "wall_s": res.get("wall_s")}))
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if not summary.get("steps") or not summary.get("wall_s"):
        raise ValueError(
            f"{summary_path}: the SFT stage's steps and wall_s are needed (the warm start's record)"
        )
    start = demo.evaluate_dir(sft, data["heldout"], SETTINGS, k=0)
    summary |= {k: start[k] for k in ("accuracy", "step_accuracy", "trace_accuracy")}
    return sft, data | {"gold": gold["train"], "n_gold": gold["n_gold"]}, summary


def gold_data(data: dict, n: int | None) -> dict:
    """The data the supervised stages see: every training item (`n` None), or the first `n`
    (data/gold.jsonl), with the same validation and held-out files."""
    if n is None:
        return data | {"n_gold": data["n_train"]}
    rows = Path(data["train"]).read_text().splitlines()
    if not 0 < n <= len(rows):
        raise ValueError(f"--gold {n}: must be between 1 and the {len(rows)} training items")
    path = Path(data["train"]).with_name("gold.jsonl")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(rows[:n]) + "\n")
    tmp.replace(path)
    return data | {"train": str(path), "n_gold": n}


def select_settings(
    sft: str, data: dict, seed: int, jobs: int, side_jobs: list[tuple]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """`process_tune`'s two rounds on the validation split (`side_jobs`, e.g. the PRM's training,
    share the first round's pool). Returns the chosen candidate, every tuning result, and the
    side jobs' results."""
    side: list[Any] = []

    def run(cands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        mine = []
        for c in cands:
            st, ex = process_tune.apply(SETTINGS, c)
            mine.append((run_tune, st, WORK, process_tune.name(c), ex, seed, sft, data))
        out = pool([*side_jobs, *mine], jobs)
        side.extend(out[: len(out) - len(mine)])
        side_jobs.clear()
        return out[len(out) - len(mine) :]

    chosen, results = process_tune.tune(run, SETTINGS, seed)
    return chosen, results, side


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    global SETTINGS
    sft, data, sft_summary = prepare(args)
    seeds, arms, w = list(args.seeds), set(args.arms), WORK
    gold = data | {"train": data["gold"]}  # what the supervised arm may read
    start_val = demo.evaluate_dir(sft, data["val"], SETTINGS, k=0)
    prm_job = [(train_prm, SETTINGS, w, sft, PRM)] if "process_prm" in arms else []
    if args.tuned_from:
        prev = json.loads(Path(args.tuned_from).read_text())
        tuned, tuning, side = prev["tuning"]["chosen"], [], pool(prm_job, args.jobs)
        chosen, selection = prev["chosen_process_advantage"], prev["selection_val_accuracy"]
        selection = {"from": os.path.relpath(args.tuned_from, ROOT), **selection}
    else:
        tuned, tuning, side = select_settings(sft, data, seeds[0], args.jobs, prm_job)
    prm_path, prm_eval = side[0] if side else (None, {})
    SETTINGS, extra = process_tune.apply(SETTINGS, tuned)
    s = SETTINGS
    first = [(run_grpo, s, w, "outcome", sd, sft, data, None, "", extra) for sd in seeds]
    if not args.tuned_from:
        variants = ("process_grpo", "mixed")
        first += [(run_grpo, s, w, v, seeds[0], sft, data, None, "", extra) for v in variants]
    elif "process_rule" in arms:
        first += [(run_grpo, s, w, chosen, sd, sft, data, None, "process_rule", extra) for sd in seeds]
    runs = pool(first, args.jobs)
    if not args.tuned_from:
        cands = {r["variant"]: r for r in runs if r["variant"] in ("process_grpo", "mixed")}
        chosen = max(
            cands, key=lambda v: (cands[v]["val_accuracy"], v == "mixed")
        )  # ties: keep the outcome term
        selection = {v: cands[v]["val_accuracy"] for v in cands}
        for r in runs:
            if r["variant"] == chosen:
                r["arm"] = "process_rule"
    outcome_train_s = {r["seed"]: r["curve"][-1]["train_s"] for r in runs if r["arm"] == "outcome"}
    second = []
    if not args.tuned_from and "process_rule" in arms:
        second += [(run_grpo, s, w, chosen, sd, sft, data, None, "process_rule", extra) for sd in seeds[1:]]
    if "process_prm" in arms:
        second += [(run_grpo, s, w, chosen, sd, sft, data, prm_path, "process_prm", extra) for sd in seeds]
    if "sft_continued" in arms:
        second += [(run_sft_continued, s, w, sd, sft, gold, outcome_train_s[sd]) for sd in seeds]
    implicit: dict[str, Any] = {}
    ic = (run_grpo, s, w, chosen)  # process_implicit: the chosen advantage, implicit_prm as step reward
    if "process_implicit" in arms:  # its settings chosen on validation (seed 0), as process_rule's advantage
        sd = seeds[0]
        second += [
            (*ic, sd, sft, data, None, "", extra, implicit_entry(sft, c), f"{_iname(c)}_seed{sd}")
            for c in IMPLICIT_CANDIDATES
        ]
    runs += pool(second, args.jobs)
    if "process_implicit" in arms:
        cands = runs[-len(IMPLICIT_CANDIDATES) :]  # `second` ends with them, in order
        best = max(range(len(cands)), key=lambda i: (cands[i]["val_accuracy"], -i))
        for i, r in enumerate(cands):
            r["arm"] = "process_implicit" if i == best else _iname(IMPLICIT_CANDIDATES[i])
        entry = implicit_entry(sft, IMPLICIT_CANDIDATES[best])
        runs += pool(
            [(*ic, sd, sft, data, None, "process_implicit", extra, entry) for sd in seeds[1:]], args.jobs
        )
        implicit = {
            "beta": IMPLICIT_BETA,
            "chosen": IMPLICIT_CANDIDATES[best],
            "selection_val_accuracy": {
                _iname(c): r["val_accuracy"] for c, r in zip(IMPLICIT_CANDIDATES, cands)
            },
        }
    rel = os.path.relpath
    return {
        "implicit": implicit,
        "runs": runs,
        "chosen": chosen,
        "selection": selection,
        "tuning": {"chosen": tuned, "start_val": _val_point(start_val), "runs": tuning},
        "sft": sft_summary | {"model": rel(sft, ROOT), "gold_items": data["n_gold"]},
        "prm": prm_eval | ({"path": rel(prm_path, ROOT)} if prm_path else {}),
    }


def _val_point(res: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "step_accuracy", "trace_accuracy", "mean_length", "truncation_rate")
    return {k: res[k] for k in keys}


def _step_aurocs(runs: list[dict]) -> list[float]:
    """The runs' `step_auroc` (loop step scores against the rule verifier's verdict; runs recorded
    before it was measured have none)."""
    return [r["step_auroc"] for r in runs if r.get("step_auroc") is not None]


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _mean_curve(runs: list[dict], key: str = "accuracy") -> list[tuple[int, float]]:
    steps = [p["step"] for p in runs[0]["curve"]]
    return [(st, statistics.mean(r["curve"][i][key] for r in runs)) for i, st in enumerate(steps)]


def summarize(rec: dict[str, Any], budget: int) -> dict[str, Any]:
    runs = rec["runs"]
    by_arm = {a: rs for a in ARMS if (rs := [r for r in runs if r["arm"] == a])}
    arms = {}
    for a, rs in by_arm.items():
        acc = _mean_std([r["curve"][-1]["accuracy"] for r in rs])
        zv = [r["zero_advantage_frac"] for r in rs if r["zero_advantage_frac"] is not None]
        pad = [r["padding_frac"] for r in rs if r["padding_frac"] is not None]
        arms[a] = {
            "final_accuracy_mean": round(acc[0], 4),
            "final_accuracy_std": round(acc[1], 4),
            "final_step_accuracy_mean": round(
                statistics.mean(r["curve"][-1]["step_accuracy"] for r in rs), 4
            ),
            "final_trace_accuracy_mean": round(
                statistics.mean(r["curve"][-1]["trace_accuracy"] for r in rs), 4
            ),
            "zero_advantage_frac_mean": round(statistics.mean(zv), 4) if zv else None,
            "padding_frac_mean": round(statistics.mean(pad), 4) if pad else None,
            "step_auroc_mean": round(statistics.mean(au), 4) if (au := _step_aurocs(rs)) else None,
            "wall_s_mean": round(statistics.mean(r["wall_s"] for r in rs), 1),
            "train_s_mean": round(statistics.mean(r["curve"][-1]["train_s"] for r in rs), 1),
            "seeds": sorted(r["seed"] for r in rs),
        }
    outcome, process = _mean_curve(by_arm["outcome"]), _mean_curve(by_arm["process_rule"])
    start, target = outcome[0][1], outcome[-1][1]
    improved = target > start
    reached = next((st for st, a in process if st > 0 and a >= target), None) if improved else None
    return {
        "arms": arms,
        "target": target,
        "start": start,
        "improved": improved,
        "reached": reached,
        "rows": [
            {
                "step": st,
                **{
                    a: round(v, 3)
                    for a, v in (
                        (k, dict(_mean_curve(by_arm[k])).get(st))
                        for k in ("outcome", "process_rule", "process_prm", "process_implicit")
                        if k in by_arm
                    )
                    if v is not None
                },
            }
            for st, _ in outcome
        ],
        "steps_needed": reached if reached is not None else budget,
    }


def main(argv: list[str] | None = None) -> int:
    global SETTINGS, WORK
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=SETTINGS.grpo_steps)
    ap.add_argument("--eval-every", type=int, default=SETTINGS.eval_every)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="runs at once (default: one per core)"
    )
    ap.add_argument(
        "--base", help="stage-1 model (recipes/sft_warmstart.yaml's output; default: trained here)"
    )
    ap.add_argument(
        "--sft", help="SFT warm start to begin every arm from (default: trained here, or the previous one)"
    )
    ap.add_argument(
        "--gold", type=int, help="few-gold regime: the supervised stages see only the first N training items"
    )
    ap.add_argument(
        "--converged",
        action="store_true",
        help="stage 2 runs its whole schedule (no early stop): RL and more SFT from a converged model",
    )
    ap.add_argument(
        "--tuned-from", help="take the RL settings and process advantage chosen in this result JSON"
    )
    ap.add_argument(
        "--arms",
        nargs="+",
        choices=ARMS,
        default=list(DEFAULT_ARMS),
        help="arms to run (outcome and process_rule always do; process_implicit only when named, "
        "into process_vs_outcome_implicit.json)",
    )
    ap.add_argument("--resummarize", action="store_true", help="rebuild the result from the recorded runs")
    args = ap.parse_args(argv)
    if len(args.seeds) < 1:
        raise SystemExit("--seeds: give at least one seed")
    if not {"outcome", "process_rule"} <= set(args.arms):
        raise SystemExit("--arms: outcome and process_rule always run (the comparison is theirs)")
    if args.gold and args.converged:
        raise SystemExit("--gold and --converged: give one (each is a warm start of its own)")
    if args.gold:
        SETTINGS = dataclasses.replace(SETTINGS, **GOLD_STAGE2)
    if args.converged:
        SETTINGS = dataclasses.replace(SETTINGS, **CONVERGED_STAGE2)
    name = "process_vs_outcome" + (f"_gold{args.gold}" if args.gold else "")
    name += "_converged" if args.converged else ""
    WORK = WORK.with_name(f"bench_{name}")  # one warm start per regime, whatever the step budget
    name += "_implicit" if "process_implicit" in args.arms else ""  # same warm start, a result of its own
    if args.steps != SETTINGS.grpo_steps:
        name += f"_steps{args.steps}"  # a result of its own (the runs' records are keyed by their settings)
    out = RESULTS / f"{name}.json"
    if args.resummarize:
        prev = json.loads(out.read_text())
        rec = {k: prev[k] for k in ("runs", "sft", "prm", "tuning")} | {"implicit": prev.get("implicit", {})}
        rec |= {"chosen": prev["chosen_process_advantage"], "selection": prev["selection_val_accuracy"]}
        SETTINGS = demo.DemoSettings(
            **{"grpo_async": False, **prev["settings"]}
        )  # results from before the key
    else:
        SETTINGS = dataclasses.replace(SETTINGS, grpo_steps=args.steps, eval_every=args.eval_every)
        rec = run_all(args)
    res = summarize(rec, SETTINGS.grpo_steps)
    arms, target = res["arms"], res["target"]
    pr, oc = arms["process_rule"], arms["outcome"]
    if not res["improved"]:
        verdict = f"outcome-only did not improve on the SFT model ({res['start']:.3f} -> {target:.3f})"
    elif res["reached"] is not None:
        verdict = f"process_rule reached outcome's final {target:.3f} at step {res['reached']} of {SETTINGS.grpo_steps}"
    else:
        verdict = (
            f"process_rule did not reach outcome's final {target:.3f} within {SETTINGS.grpo_steps} steps"
        )
    notes = (
        f"held-out accuracy (mean of seeds {arms['outcome']['seeds']}) from the SFT model's {res['start']:.3f}: "
        f"{verdict}; finals: "
        + ", ".join(
            f"{a} {v['final_accuracy_mean']:.3f}±{v['final_accuracy_std']:.3f}" for a, v in arms.items()
        )
        + f"; RL settings chosen on validation: {process_tune.name(rec['tuning']['chosen'])}"
        + f"; process_rule advantage chosen on validation: {rec['chosen']} ({rec['selection']})"
        + f"; targets: +5 points over outcome {'met' if pr['final_accuracy_mean'] >= oc['final_accuracy_mean'] + 0.05 else 'missed'}"
    )
    learned = [
        a
        for a in ("process_prm", "process_implicit")
        if (arms.get(a) or {}).get("step_auroc_mean") is not None
    ]
    if learned:
        notes += (
            "; learned step rewards in the loop against the rule verdict, AUROC (0.5: chance): "
            + ", ".join(f"{a} {arms[a]['step_auroc_mean']:.3f}" for a in learned)
        )
    if rec["implicit"]:
        imp = rec["implicit"]
        notes += f"; process_implicit settings chosen on validation: {imp['chosen']} ({imp['selection_val_accuracy']})"
    if rec["sft"].get("gold_items") not in (None, SETTINGS.n_train):
        notes += f"; few-gold: the supervised stages saw {rec['sft']['gold_items']} gold solutions"
    _plot(rec["runs"], target, RESULTS / f"{name}.png")
    write_result(
        name,
        "GRPO steps process_rule needs to reach the outcome-only final held-out accuracy",
        "steps",
        float(res["steps_needed"]),
        "outcome-only GRPO (step budget)",
        float(SETTINGS.grpo_steps),
        goal_ratio=2.5,
        higher_is_better=False,
        description="outcome / process_rule / process_prm GRPO and continued SFT from one SFT warm start on "
        "4-step arithmetic chains (data_gen integer_arithmetic, 5 one-digit operands, + and -), held-out accuracy vs steps",
        rows=res["rows"],
        extra={
            "notes": notes,
            "seeds": arms["outcome"]["seeds"],
            "steps_per_problem_min": _steps_per_problem_min(),
            "arms": arms,
            "chosen_process_advantage": rec["chosen"],
            "selection_val_accuracy": rec["selection"],
            "tuning": rec["tuning"],
            "start_accuracy": res["start"],
            "target_accuracy": target,
            "reached_step": res["reached"],
            "sft": rec["sft"],
            "prm": rec["prm"],
            "settings": dataclasses.asdict(SETTINGS),
            "prm_settings": PRM,
            "implicit": rec["implicit"],
            "runs": rec["runs"],
            "plot": f"bench/results/{name}.png",
        },
    )
    print(notes)
    return 0


def _steps_per_problem_min() -> int:
    """The fewest gold steps of any held-out problem (data_gen's test split at these settings)."""
    path = WORK / "data" / "heldout.jsonl"
    if not path.is_file():
        demo.make_data(SETTINGS, WORK)
    return min(len(json.loads(line)["solution_steps"]) for line in path.read_text().splitlines() if line)


COLORS = {
    "outcome": "tab:blue",
    "process_rule": "tab:orange",
    "process_prm": "tab:green",
    "sft_continued": "tab:gray",
    "process_implicit": "tab:red",
}


def _plot(runs: list[dict], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for arm in ARMS:
        rs = [r for r in runs if r["arm"] == arm]
        for r in rs:
            label = arm if r is rs[0] else None
            xs, ts = [p["step"] for p in r["curve"]], [p["train_s"] for p in r["curve"]]
            axes[0].plot(
                xs, [p["accuracy"] for p in r["curve"]], "o-", color=COLORS[arm], alpha=0.6, label=label
            )
            axes[1].plot(
                xs, [p["trace_accuracy"] for p in r["curve"]], "o-", color=COLORS[arm], alpha=0.6, label=label
            )
            axes[2].plot(
                ts, [p["accuracy"] for p in r["curve"]], "o-", color=COLORS[arm], alpha=0.6, label=label
            )
    titles = (
        "held-out accuracy vs step",
        "held-out trace accuracy vs step",
        "held-out accuracy vs wall time",
    )
    xlabels = ("GRPO step (sft_continued: its end)", "GRPO step", "training wall time (s)")
    for k, (ax, xl, title) in enumerate(zip(axes, xlabels, titles)):
        if k != 1:  # the target is an accuracy, not a trace accuracy
            ax.axhline(target, color="gray", linestyle=":", label="outcome final (mean)")
        ax.set(xlabel=xl, title=title)
        ax.set_ylim(bottom=0)  # autoscaled above: small differences stay visible
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
