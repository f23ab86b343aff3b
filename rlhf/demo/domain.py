"""`python -m rlhf.demo.domain --out runs/demo_domain [--domain finance|dosage|units]` (`make demo-domain`).

The vertical-domain flow on a CPU, through the machinery a user runs (recipes loaded with
dotted overrides, trainers from `rlhf.trainers.TRAINERS`, `cotrl export`, `cotrl eval`'s evaluator):

1. general model: the `make demo` SFT model (runs/demo/sft/model) when present, `--general DIR`
   when given, else the same warm start built here (the demo's data and SFT settings);
2. data: the domain generator's smallest level (SMALLEST: finance and units `whole=2`, one or
   two one-digit steps; dosage `whole=1`, integer steps) as train / validation (train split,
   never trained on) / held-out (test split) files, or a
   user's own file (`--domain-file`: question, answer, optional steps and tolerance);
   general items for the mix, and the general held-out set (the demo's own test split);
3. LoRA SFT (recipes/sft_lora_domain.yaml: r16, alpha 32) on the mix, domain share
   `sft.domain_ratio` (>= 0.3 recommended); stopped and monitored on the validation file;
4. GRPO with LoRA (recipes/grpo_lora_domain.yaml) from the SFT adapter, on the domain
   verifier (math_answer, within the item's tolerance) plus the rule step verifier, with a KL
   penalty (`grpo_kl`) against its reference, the SFT model (the continued adapter, frozen),
   so KL starts at 0; one run per learning rate in `grpo_lrs`, the one best on the validation
   file kept (ties: the smaller rate);
5. `cotrl export` of the GRPO run to a merged plain HF dir; evaluation of base, SFT and the
   merged model on the domain held-out set and the general held-out set;
6. the mix sweep: the SFT stage again at other domain shares with the same step budget,
   each scored on both held-out sets (the trade-off between domain gain and retention);
7. report.json, report.md and plots/ (with wall time per stage).

Settings are fixed before the run and checked on validation data only; the held-out sets
are scored, never used to choose. `--quick` shrinks everything (tests); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rlhf.demo.pipeline import DemoSettings, load_average, recipe, train

DOMAINS = {"finance": "finance", "dosage": "dosage", "units": "unit_conversion"}
DEMO_GENERAL = Path("runs/demo/sft/model")
# each domain's smallest generator level (the default `knobs`): steps the general model can already do
SMALLEST = {"finance": "{whole: 2}", "dosage": "{whole: 1}", "units": "{whole: 2}"}
MARKER = ".cotrl_domain_demo"  # marks a directory this command wrote (and may replace)


@dataclass(frozen=True)
class DomainSettings:
    """The domain demo's knobs; each ends up as a recipe override or an eval setting."""

    domain: str = "finance"  # finance | dosage | units (ignored with domain_file)
    domain_file: str = ""  # a user's own items (JSONL/CSV/Parquet: question, answer, [steps], [tolerance])
    general: str = ""  # general model dir; empty: runs/demo/sft/model if present, else built here
    knobs: str = ""  # the domain generator's knobs; empty: SMALLEST[domain]
    verifier: str = (
        "math_answer"  # the answer verifier by name (rewards.registry.REWARDS): GRPO reward and eval metric
    )
    n_train: int = (
        600  # domain training items (SFT domain rows, GRPO prompts); the whole levels are small spaces
    )
    n_val: int = 64  # validation items (train split, never trained on): SFT's check
    n_heldout: int = 100  # domain held-out items (test split)
    n_general: int = 3000  # general items available to the mix
    n_general_heldout: int = 100  # general held-out items (the demo's test split)
    domain_share: float = 0.5  # sft.domain_ratio of the main run
    sweep_shares: str = "[0.1, 1.0]"  # further shares for the sweep (same SFT budget as the main run)
    sft_steps: int = 500  # finance validation accuracy 0.09 at 300 steps (still rising), 0.14 at 500
    lora_targets: str = "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]"  # [q_proj, v_proj] learned nothing here in 300 steps (validation 0.00): this base is tiny
    sft_batch: int = 16
    sft_lr: float = 2e-3
    sft_eval_every: int = 100
    grpo_steps: int = 60  # with sft_steps 500: validation 0.17 after GRPO, against 0.125 with 300 / 40
    grpo_lrs: str = "[1e-4, 5e-4]"  # one GRPO run each; the best on the validation file is kept
    grpo_kl: float = 0.1  # algo.kl_coef: KL(policy || SFT model) in the loss (0 drifted: KL 1.7 in 40 steps)
    grpo_temperature: float = 0.7
    prompts_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = (
        64  # the longest gold completion of the smallest levels is 36 tokens (demo tokenizer)
    )
    seed: int = 0
    threads: int = 1


QUICK = DomainSettings(
    n_train=48,
    n_val=4,
    n_heldout=6,
    n_general=48,
    n_general_heldout=6,
    sweep_shares="[0.3]",
    grpo_lrs="[5e-4, 1e-4]",
    sft_steps=2,
    sft_batch=4,
    sft_eval_every=1,
    grpo_steps=1,
    prompts_per_step=2,
    group_size=2,
    max_new_tokens=16,
)
QUICK_GENERAL = {
    "model": "{hidden_size: 64, num_layers: 1, num_heads: 1, intermediate_size: 128, vocab_size: 320}",
    "n_train": 48,
    "n_val": 4,
    "n_heldout": 4,
    "sft_steps": 2,
    "sft_batch": 4,
    "sft_eval_every": 1,
    "max_new_tokens": 16,
}


def check_settings(s: DomainSettings) -> tuple[list[float], list[float]]:
    """Bad settings fail before anything runs, naming the setting; returns the sweep's shares and the GRPO lrs."""
    import yaml

    lrs = _numbers(yaml.safe_load(s.grpo_lrs))  # YAML reads 5e-4 (no dot) as a string
    if not lrs or not all(x > 0 for x in lrs):
        raise ValueError(f"grpo_lrs must be a non-empty list of positive numbers, got {s.grpo_lrs!r}")
    if isinstance(s.grpo_kl, bool) or not isinstance(s.grpo_kl, (int, float)) or s.grpo_kl < 0:
        raise ValueError(f"grpo_kl must be a number >= 0, got {s.grpo_kl!r}")
    if not s.domain_file and s.domain not in DOMAINS:
        raise ValueError(f"--domain {s.domain!r} is not one of: {', '.join(DOMAINS)}")
    shares = yaml.safe_load(s.sweep_shares)
    if not isinstance(shares, list) or not all(isinstance(x, (int, float)) for x in shares):
        raise ValueError(f"sweep_shares must be a list of numbers, got {s.sweep_shares!r}")
    for name, share in [("domain_share", s.domain_share)] + [("sweep_shares", x) for x in shares]:
        if isinstance(share, bool) or not 0.0 < share <= 1.0:
            raise ValueError(f"{name}: a domain share must be in (0, 1], got {share!r}")
    from rewards.registry import REWARDS

    if s.verifier not in REWARDS:
        raise ValueError(
            f"verifier {s.verifier!r} is not a registered answer verifier; valid: {', '.join(REWARDS.names())}"
        )
    if s.general and not (Path(s.general) / "config.json").is_file():
        raise ValueError(f"--general {s.general}: not an HF model directory (no config.json)")
    if s.domain_file:  # every bad row named now, before any model is built or trained
        from rlhf.data.readers import domain_items, split_heldout_rows

        split_heldout_rows(domain_items(s.domain_file), s.n_val, s.n_heldout, s.seed)
    return [float(x) for x in shares], lrs


def _numbers(raw: Any) -> list[float] | None:
    """A YAML list of numbers (or number-like strings) as floats; None when it is not one."""
    if not isinstance(raw, list) or any(isinstance(x, bool) for x in raw):
        return None
    try:
        return [float(x) for x in raw]
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------- stages


def general_model(s: DomainSettings, out: Path, quick: bool) -> tuple[str, str]:
    """(model dir, where it came from): --general, the make-demo SFT model, or the same warm start built here."""
    from rlhf.demo.pipeline import make_data, sft_config

    if s.general:
        return s.general, "given"  # checked by check_settings
    if not quick and (DEMO_GENERAL / "config.json").is_file():
        return str(DEMO_GENERAL), "make demo"
    d = replace(DemoSettings(), **QUICK_GENERAL) if quick else DemoSettings()
    data = make_data(d, out / "general")
    res = train(sft_config(d, out / "general", data["train"], data["val"]))
    return res["outputs"]["model"], "built (the make-demo warm start)"


def make_data(s: DomainSettings, out: Path) -> dict[str, str]:
    """Domain train/val/heldout and general train/heldout JSONL files (data_gen item rows)."""
    import yaml

    from data_gen.generate import iter_items, make_config
    from data_gen.writers import write_jsonl

    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = {k: str(data / f"{k}.jsonl") for k in ("train", "val", "heldout", "general", "general_heldout")}
    if s.domain_file:
        from rlhf.data.readers import domain_items, split_heldout_rows

        items = domain_items(s.domain_file)
        rows = [  # kept in the question/answer form: SFT, GRPO and eval all read it (steps may be absent)
            {
                "question": i["prompt"],
                "answer": i["answer"],
                "steps": i["solution_steps"],
                "tolerance": i["meta"]["abs_tol"],
            }
            for i in items
        ]
        for name, part in zip(
            ("train", "val", "heldout"), split_heldout_rows(rows, s.n_val, s.n_heldout, s.seed)
        ):
            write_jsonl(part, paths[name])
    else:
        task = DOMAINS[s.domain]
        cfg = {task: make_config(task, None, yaml.safe_load(s.knobs or SMALLEST[s.domain]))}
        rows = list(iter_items([task], s.n_train + s.n_val, seed=s.seed, configs=cfg, split="train"))
        write_jsonl(rows[: s.n_train], paths["train"])
        write_jsonl(rows[s.n_train :], paths["val"])
        write_jsonl(iter_items([task], s.n_heldout, seed=s.seed, configs=cfg, split="test"), paths["heldout"])
    d = DemoSettings()
    gcfg = {d.task: make_config(d.task, None, yaml.safe_load(d.knobs))}
    general_seed = s.seed + 1  # other items than the warm start trained on (seed 0), same distribution
    write_jsonl(
        iter_items([d.task], s.n_general, seed=general_seed, configs=gcfg, split="train"), paths["general"]
    )
    write_jsonl(
        iter_items([d.task], s.n_general_heldout, seed=d.seed, configs=gcfg, split="test"),
        paths["general_heldout"],
    )
    return paths


def sft_config(s: DomainSettings, run_dir: Path, base: str, data: dict[str, str], share: float) -> Any:
    return recipe(
        "sft_lora_domain",
        [
            f"run.output_dir={run_dir}",
            f"run.seed={s.seed}",
            "run.device=cpu",
            f"model.path={base}",
            f"lora.target_modules={s.lora_targets}",
            "sft.generate=null",
            "sft.general_generate=null",
            f"sft.train_path={data['train']}",
            f"sft.eval_path={data['val']}",
            f"sft.general_path={data['general']}",
            f"sft.domain_ratio={share}",
            f"sft.eval_max_items={s.n_val}",
            f"sft.eval_metric={s.verifier}",
            f"sft.eval_every={s.sft_eval_every}",
            f"sft.eval_max_new_tokens={s.max_new_tokens}",
            f"sft.max_steps={s.sft_steps}",
            f"sft.batch_size={s.sft_batch}",
            "sft.grad_accum=1",
            "sft.save=adapter",
            f"train.lr={s.sft_lr}",
            f"train.cpu_threads={s.threads}",
        ],
    )


def grpo_config(
    s: DomainSettings, run_dir: Path, base: str, adapter_run: Path, data: dict[str, str], lr: float
) -> Any:
    return recipe(
        "grpo_lora_domain",
        [
            f"run.output_dir={run_dir}",
            f"run.seed={s.seed}",
            "run.device=cpu",
            "run.save_every=0",
            f"model.path={base}",
            f"lora.adapter_path={adapter_run}",
            "data.source=jsonl",
            f"data.path={data['train']}",
            "data.tasks=[]",
            f"data.prompts_per_step={s.prompts_per_step}",
            f"rollout.n={s.group_size}",
            f"rollout.max_new_tokens={s.max_new_tokens}",
            f"rollout.temperature={s.grpo_temperature}",
            f"rewards=[{{name: {s.verifier}}}, {{name: rule}}]",
            "algo.advantage=mixed",
            "algo.process_weight=0.5",
            f"train.steps={s.grpo_steps}",
            f"train.lr={lr}",
            f"algo.kl_coef={s.grpo_kl}",
            f"train.cpu_threads={s.threads}",
        ],
    )


def evaluate(
    model_dir: str, problems_path: str, s: DomainSettings, adapter: str | None = None, metric: str = ""
) -> dict[str, Any]:
    """`cotrl eval`'s evaluator, greedy, on a JSONL file (adapter merged in when given)."""
    from rlhf.eval import evaluator as ev

    model, tok = ev.load_model(model_dir, adapter)
    settings = ev.EvalSettings(k=0, max_new_tokens=s.max_new_tokens, seed=s.seed, metric=metric or s.verifier)
    res = ev.evaluate(model, tok, ev.file_problems(problems_path), settings)
    return {
        k: res[k] for k in ("accuracy", "step_accuracy", "format_rate", "mean_length", "seconds") if k in res
    } | {"samples": res["samples"][:2]}


def both(
    model_dir: str, data: dict[str, str], s: DomainSettings, adapter: str | None = None
) -> dict[str, Any]:
    return {
        "domain": evaluate(model_dir, data["heldout"], s, adapter),
        "general": evaluate(model_dir, data["general_heldout"], s, adapter, "math_answer"),
    }


# ----------------------------------------------------------------------------- the run


def run(s: DomainSettings, out: Path, quick: bool = False) -> dict[str, Any]:
    import torch
    from rich.console import Console

    from rlhf.demo.domain_report import write_domain_report
    from rlhf.models.adapters import export_run
    from rlhf.runtime.progress import quiet_libraries

    shares, lrs = check_settings(s)
    console = Console()
    quiet_libraries()
    torch.set_num_threads(s.threads)
    _fresh_out(out)
    times: dict[str, float] = {}
    t = _stage(console, times, None, "general", "general model (the make-demo warm start)")
    base, base_from = general_model(s, out, quick)
    t = _stage(console, times, t, "data", "domain and general data files")
    data = make_data(s, out)
    t = _stage(console, times, t, "eval_base", "evaluate the general model on both held-out sets")
    ev_base = both(base, data, s)
    t = _stage(console, times, t, "sft", f"LoRA SFT on the mix (domain share {s.domain_share:g})")
    sft_run = out / "sft"
    sft = train(sft_config(s, sft_run, base, data, s.domain_share))
    t = _stage(console, times, t, "eval_sft", "evaluate the SFT adapter on both held-out sets")
    ev_sft = both(base, data, s, str(sft_run / "adapter"))
    t = _stage(console, times, t, "grpo", f"GRPO with LoRA from the SFT adapter, lr in {lrs} on validation")
    grpo_run, grpo = grpo_select(s, out, base, sft_run, data, lrs)
    t = _stage(console, times, t, "export", "cotrl export: the GRPO run merged into a plain HF dir")
    exported, _ = export_run(grpo_run, out / "exported", overwrite=True)
    t = _stage(console, times, t, "eval_final", "evaluate the merged model on both held-out sets")
    ev_final = both(str(exported), data, s)
    t = _stage(console, times, t, "sweep", f"mix sweep: SFT at shares {shares} (same budget)")
    sweep = [{"domain_share": s.domain_share, "run": "sft", **_point(ev_sft)}]
    for share in [x for x in shares if x != s.domain_share]:
        run_dir = out / "sweep" / f"share_{share:g}"
        train(sft_config(s, run_dir, base, data, share))
        sweep.append(
            {
                "domain_share": share,
                "run": str(run_dir.relative_to(out)),
                **_point(both(base, data, s, str(run_dir / "adapter"))),
            }
        )
    sweep.sort(key=lambda r: r["domain_share"])
    t = _stage(console, times, t, "report", "")
    report = {
        "domain": s.domain_file or s.domain,
        "domain_accuracy_base": ev_base["domain"]["accuracy"],
        "domain_accuracy_sft": ev_sft["domain"]["accuracy"],
        "domain_accuracy_grpo": ev_final["domain"]["accuracy"],
        "general_accuracy_base": ev_base["general"]["accuracy"],
        "general_accuracy_sft": ev_sft["general"]["accuracy"],
        "general_accuracy_final": ev_final["general"]["accuracy"],
        "mix_sweep": sweep,
        "evals": {"base": ev_base, "sft": ev_sft, "final": ev_final},
        "general_model": {"path": base, "from": base_from},
        "sft": {k: sft.get(k) for k in ("steps", "train_loss", "wall_s", "heldout_accuracy_after")},
        "grpo": grpo,
        "exported": str(exported),
        "settings": asdict(s) | {"quick": quick},
        "data": data,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load": load_average(),
        },
    }
    for _ in range(2):  # the second write records the report stage's own time
        report["wall_s"] = {k: round(v, 1) for k, v in times.items()} | {
            "total": round(sum(times.values()), 1)
        }
        write_domain_report(report, out)
        times["report"] = time.perf_counter() - t
    console.print(
        f"[bold green]report: {out / 'report.md'}[/] (domain {report['domain_accuracy_base']:.2f} -> "
        f"{report['domain_accuracy_sft']:.2f} -> {report['domain_accuracy_grpo']:.2f}; general "
        f"{report['general_accuracy_base']:.2f} -> {report['general_accuracy_final']:.2f}; "
        f"{report['wall_s']['total']:.0f} s)"
    )
    return report


def grpo_select(
    s: DomainSettings, out: Path, base: str, sft_run: Path, data: dict[str, str], lrs: list[float]
) -> tuple[Path, dict[str, Any]]:
    """One GRPO run per lr, each scored on the validation file (never the held-out sets); the best
    is kept (ties: the smaller lr, the smaller step from the SFT model). Returns its run dir and a summary."""
    tried = []
    for lr in lrs:
        run_dir = out / "grpo" if len(lrs) == 1 else out / "grpo_lr" / f"{lr:g}"
        res = train(grpo_config(s, run_dir, base, sft_run, data, lr))
        val = evaluate(base, data["val"], s, str(run_dir / "adapter"))
        tried.append(
            {
                "lr": lr,
                "run": str(run_dir.relative_to(out)),
                "val_accuracy": val["accuracy"],
                "val_step_accuracy": val.get("step_accuracy"),
                "steps": res.get("steps"),
                "final": res.get("final"),
            }
        )
    best = max(tried, key=lambda r: (r["val_accuracy"], -r["lr"]))
    return out / best["run"], {
        "lr": best["lr"],
        "kl_coef": s.grpo_kl,
        "run": best["run"],
        "steps": best["steps"],
        "final": best["final"],
        "lr_search": tried,
    }


def _point(ev: dict[str, Any]) -> dict[str, float]:
    return {"domain_accuracy": ev["domain"]["accuracy"], "general_accuracy": ev["general"]["accuracy"]}


def _stage(console: Any, times: dict[str, float], t: float | None, name: str, what: str) -> float:
    """Close the running stage (its wall time into `times`) and open `name`."""
    now = time.perf_counter()
    if t is not None:
        times[list(times)[-1]] = now - t
    times[name] = 0.0
    if what:
        console.rule(f"[bold cyan]{name}: {what}")
    return now


def _fresh_out(out: Path) -> None:
    """A previous domain demo is replaced; anything else is refused (a mistyped --out never deletes data)."""
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file()):
            raise ValueError(
                f"--out {out} exists and does not hold a previous domain demo run; choose another directory"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text(
        "a cotrl domain demo run; `python -m rlhf.demo.domain` may replace this directory\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="cotrl domain demo: general model -> LoRA SFT on a mix -> GRPO -> export -> eval -> sweep"
    )
    ap.add_argument("--out", default="runs/demo_domain")
    ap.add_argument("--domain", default=None, help=f"one of {', '.join(DOMAINS)} (default finance)")
    ap.add_argument(
        "--domain-file", default=None, help="your own items: JSONL/CSV/Parquet with question, answer"
    )
    ap.add_argument(
        "--general", default=None, help="general model dir (default: runs/demo/sft/model, else built)"
    )
    ap.add_argument("--quick", action="store_true", help="tiny settings (seconds; for tests)")
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="override DomainSettings fields"
    )
    args = ap.parse_args(argv)
    s = QUICK if args.quick else DomainSettings()
    changes: dict[str, Any] = {}
    for key, value in (("domain", args.domain), ("domain_file", args.domain_file), ("general", args.general)):
        if value is not None:
            changes[key] = value
    try:
        changes.update(_parse_sets(args.set, s))
        s = replace(s, **changes)
        run(s, Path(args.out), quick=args.quick)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"rlhf.demo.domain: error: {exc}") from None
    return 0


def _parse_sets(items: list[str], s: DomainSettings) -> dict[str, Any]:
    import yaml

    fields = asdict(s)
    out: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        if key not in fields:
            raise ValueError(f"unknown setting {key!r}; valid: {', '.join(sorted(fields))}")
        out[key] = raw if isinstance(fields[key], str) else yaml.safe_load(raw)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
