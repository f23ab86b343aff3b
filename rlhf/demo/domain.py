"""`python -m rlhf.demo.domain --out runs/demo_domain [--domain finance|dosage|units]` (`make demo-domain`).

The vertical-domain flow on a CPU, through the machinery a user runs (recipes loaded with
dotted overrides, trainers from `rlhf.trainers.TRAINERS`, `cotrl export`, `cotrl eval`'s evaluator):

1. general model: the `make demo` SFT model (runs/demo/sft/model) when present, `--general DIR`
   when given, else the same warm start built here (the demo's data and SFT settings);
2. data: the domain generator's smallest level (SMALLEST: finance and units `whole=2`, one or
   two one-digit steps; dosage `whole=1`, integer steps) as train / validation (train split,
   never trained on) / GRPO prompts (`n_rl` more train-split items, never in SFT) / held-out
   (test split) files, or a
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
7. report.json, report.md and plots/ (with wall time per stage and per run).

Runs that do not wait on each other go side by side, one process and one torch thread each
(`jobs`, default one per core; rlhf.runtime.jobs): the main SFT run beside the sweep's, then the
GRPO runs (which need the main SFT adapter) beside what is left of the sweep.

Settings are fixed before the run and checked on validation data only; the held-out sets
are scored, never used to choose. `--quick` shrinks everything (tests); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rlhf.demo.domain_stages import (
    DOMAINS,
    DomainSettings,
    both,
    general_model,
    grpo_point,
    grpo_select,
    make_data,
    point,
    sft_point,
)
from rlhf.demo.pipeline import load_average
from rlhf.runtime.jobs import JobPool, cores

MARKER = ".cotrl_domain_demo"  # marks a directory this command wrote (and may replace)


QUICK = DomainSettings(
    n_train=48,
    n_val=4,
    n_rl=8,
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


def check_settings(s: DomainSettings) -> tuple[list[float], list[float]]:
    """Bad settings fail before anything runs, naming the setting; returns the sweep's shares and the GRPO lrs."""
    import yaml

    lrs = _numbers(yaml.safe_load(s.grpo_lrs))  # YAML reads 5e-4 (no dot) as a string
    if not lrs or not all(x > 0 for x in lrs):
        raise ValueError(f"grpo_lrs must be a non-empty list of positive numbers, got {s.grpo_lrs!r}")
    if isinstance(s.grpo_kl, bool) or not isinstance(s.grpo_kl, (int, float)) or s.grpo_kl < 0:
        raise ValueError(f"grpo_kl must be a number >= 0, got {s.grpo_kl!r}")
    if isinstance(s.n_rl, bool) or not isinstance(s.n_rl, int) or s.n_rl < 0:
        raise ValueError(f"n_rl must be a whole number >= 0 (0: GRPO on the SFT items), got {s.n_rl!r}")
    if isinstance(s.jobs, bool) or not isinstance(s.jobs, int) or s.jobs < 0:
        raise ValueError(f"jobs must be a whole number >= 0 (0: one per core), got {s.jobs!r}")
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
    workers = s.jobs or cores()
    with JobPool(workers) as pool:  # independent runs side by side, one core each
        sft_job = pool.submit(sft_point, s, sft_run, base, data, s.domain_share)
        sweep_jobs = {
            share: pool.submit(sft_point, s, out / "sweep" / f"share_{share:g}", base, data, share)
            for share in shares
            if share != s.domain_share
        }
        sft, ev_sft = sft_job.result()
        t = _stage(
            console, times, t, "grpo", f"GRPO with LoRA from the SFT adapter, lr in {lrs} on validation"
        )
        grpo_jobs = [pool.submit(grpo_point, s, out, base, sft_run, data, lr, len(lrs)) for lr in lrs]
        tried = [j.result() for j in grpo_jobs]
        t = _stage(console, times, t, "sweep", f"mix sweep: SFT at shares {shares} (same budget)")
        swept = {share: j.result() for share, j in sweep_jobs.items()}
    grpo_run, grpo = grpo_select(s, out, tried)
    sweep = [{"domain_share": s.domain_share, "run": "sft", **point(ev_sft), "wall_s": sft.get("wall_s")}]
    for share, (res, ev) in swept.items():
        run_dir = out / "sweep" / f"share_{share:g}"
        sweep.append(
            {
                "domain_share": share,
                "run": str(run_dir.relative_to(out)),
                **point(ev),
                "wall_s": res.get("wall_s"),
            }
        )
    sweep.sort(key=lambda r: r["domain_share"])
    t = _stage(console, times, t, "export", "cotrl export: the GRPO run merged into a plain HF dir")
    exported, _ = export_run(grpo_run, out / "exported", overwrite=True)
    t = _stage(console, times, t, "eval_final", "evaluate the merged model on both held-out sets")
    ev_final = both(str(exported), data, s)
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
