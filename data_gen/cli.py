"""`cotrl gen`: write a synthetic dataset (and optionally PRM / ProcessBench exports).

    cotrl gen --list
    cotrl gen --task integer_arithmetic --n 1000 --seed 0 --out data/train.jsonl
    cotrl gen --task integer_arithmetic,linear_equation --n 200 --split test --difficulty 3 \\
        --set max_digits=3 --format parquet --out data/eval.parquet --prm
    cotrl gen --from gsm8k:gsm8k/train.jsonl --out data/gsm8k.items.jsonl [--skip-bad-rows]

`--from FORMAT:PATH` converts a published dataset (`data_gen.datasets`: gsm8k, math, numina,
aime, mbpp, humaneval, stdio, items; prm800k, math_shepherd and processbench to PRM stepwise
rows) instead of generating; `--n` then keeps the first N.

Everything is validated before any generation: an unknown task or knob, n <= 0, an
unwritable or existing output (without --overwrite) is one line on stderr, exit 2,
nothing written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from data_gen.core import MAX_LEVEL, SPLITS
from data_gen.registry import GENERATORS
from data_gen.writers import FORMATS, check_format, check_output, write_items


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("gen", help="generate synthetic problems with checkable steps")
    p.add_argument("--list", action="store_true", help="list tasks with their knobs and defaults")
    p.add_argument("--task", help="task name(s), comma-separated; rg:NAME draws from reasoning-gym")
    p.add_argument("--n", type=int, help="number of items")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (per-item seeds are hashed from it)")
    p.add_argument("--out", help="output path (.jsonl, .parquet, or a directory for --format hf)")
    p.add_argument(
        "--format", choices=FORMATS, default=None, help="default: from the --out suffix, else jsonl"
    )
    p.add_argument(
        "--split", choices=SPLITS, default="train", help="train or held-out test (disjoint problems)"
    )
    p.add_argument(
        "--difficulty", type=float, default=None, help=f"level in [0, {MAX_LEVEL:g}] mapped onto knobs"
    )
    p.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE", help="override one knob")
    p.add_argument("--prm", action="store_true", help="also write OUT.prm.* and OUT.processbench.* exports")
    p.add_argument(
        "--chat-prompt",
        action="store_true",
        help="write `prompt` as the chat message list (TRL conversational format) instead of text",
    )
    p.add_argument(
        "--from",
        dest="from_",
        metavar="FORMAT:PATH",
        help="convert a published dataset file or `datasets` dir instead of generating",
    )
    p.add_argument(
        "--skip-bad-rows", action="store_true", help="with --from: skip rows whose answer cannot be read"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _task_names(spec: str) -> list[str]:
    names = [t.strip() for t in spec.split(",") if t.strip()]
    if not names:
        raise ValueError("--task is empty")
    from data_gen.generate import get_generator

    for name in names:
        get_generator(name)  # unknown -> ValueError listing the tasks
    return names


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r} must look like knob=value")
        out[key.strip()] = value.strip()
    return out


def _export_path(out: Path, kind: str, fmt: str) -> Path:
    suffix = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}[fmt]
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}.{kind}{suffix}")


def list_tasks() -> list[dict[str, Any]]:
    rows = []
    for name in GENERATORS.names():
        gen = GENERATORS.get(name)
        knobs = {
            k: {
                "default": spec.at0,
                f"at_level_{MAX_LEVEL:g}": spec.at_max,
                "range": [spec.lo, spec.hi],
                "help": spec.help,
            }
            for k, spec in gen.config_cls.knobs().items()
        }
        rows.append({"task": name, "description": gen.description, "knobs": knobs})
    return rows


def run(args) -> int:
    from data_gen.generate import iter_items, resolve_configs

    if args.list:
        for row in list_tasks():
            print(f"{row['task']}: {row['description']}")
            for k, spec in row["knobs"].items():
                lo, hi = spec["range"]
                print(
                    f"    {k} = {spec['default']:g} (level {MAX_LEVEL:g}: {spec[f'at_level_{MAX_LEVEL:g}']:g}; "
                    f"range {lo:g}..{hi:g})  {spec['help']}"
                )
        from data_gen.adapters.reasoning_gym import available

        n_rg = len(available())
        print(
            f"rg:NAME: {n_rg} reasoning-gym tasks (answers only)" if n_rg else "rg:NAME: needs reasoning-gym"
        )
        return 0
    if getattr(args, "from_", None):
        return convert(args)
    if getattr(args, "skip_bad_rows", False):
        raise ValueError("--skip-bad-rows applies only with --from FORMAT:PATH")
    missing = [flag for flag, v in (("--task", args.task), ("--n", args.n), ("--out", args.out)) if v is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (or use --list)")
    tasks = _task_names(args.task)
    if args.n <= 0:
        raise ValueError(f"--n must be positive, got {args.n}")
    configs = resolve_configs(tasks, args.difficulty, _parse_sets(args.set))
    out = Path(args.out)
    fmt = args.format or ("parquet" if out.suffix == ".parquet" else "jsonl")
    check_format(out, fmt)  # --format parquet --out x.jsonl would write Parquet under a JSONL name
    targets = [out] + (
        [_export_path(out, "prm", fmt), _export_path(out, "processbench", fmt)] if args.prm else []
    )
    for t in targets:
        check_output(t, args.overwrite, directory=fmt == "hf")

    stream = iter_items(tasks, args.n, args.seed, configs, args.split)
    items = list(_progress(stream, args.n, not args.no_progress and sys.stderr.isatty()))
    if args.chat_prompt:
        from data_gen.writers import chat_prompt

        write_items([chat_prompt(i) for i in items], out, fmt)
    else:
        write_items(items, out, fmt)
    summary: dict[str, Any] = {
        "out": str(out),
        "n": len(items),
        "tasks": tasks,
        "split": args.split,
        "format": fmt,
    }
    if args.prm:
        from data_gen.inject import prm_rows, processbench_rows

        summary["prm_rows"] = write_items(prm_rows(items), targets[1], fmt)
        summary["processbench_rows"] = write_items(processbench_rows(items), targets[2], fmt)
        summary["prm_out"], summary["processbench_out"] = str(targets[1]), str(targets[2])
    print(json.dumps(summary))
    return 0


def convert(args) -> int:
    """`--from FORMAT:PATH`: everything is read and checked before the one atomic write."""
    from data_gen.datasets.load import FORMATS, load

    fmt, sep, path = args.from_.partition(":")
    if not sep or not path:
        raise ValueError(f"--from {args.from_!r} must look like FORMAT:PATH (formats: {', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise ValueError(f"--from format {fmt!r} is not one of {', '.join(FORMATS)}")
    clash = [f for f, v in (("--task", args.task), ("--difficulty", args.difficulty)) if v is not None]
    clash += ["--set"] * bool(args.set) + ["--prm"] * bool(args.prm)
    if clash:
        raise ValueError(f"{clash[0]} does not apply with --from (it converts, it does not generate)")
    if args.out is None:
        raise ValueError("missing --out")
    if args.n is not None and args.n <= 0:
        raise ValueError(f"--n must be positive, got {args.n}")
    out = Path(args.out)
    out_fmt = args.format or ("parquet" if out.suffix == ".parquet" else "jsonl")
    check_format(out, out_fmt)
    check_output(out, args.overwrite, directory=out_fmt == "hf")
    loaded = load(fmt, path, args.split, args.skip_bad_rows, skip_hint="--skip-bad-rows")
    rows = loaded.rows[: args.n] if args.n else loaded.rows
    if args.chat_prompt and FORMATS[fmt].kind == "items":
        from data_gen.writers import chat_prompt

        rows = [chat_prompt(r) for r in rows]
    n = write_items(rows, out, out_fmt)
    summary = {"out": str(out), "n": n, "from": fmt, "path": path, "rows_read": loaded.total}
    summary.update({"kind": FORMATS[fmt].kind, "skipped": len(loaded.skipped), "format": out_fmt})
    if loaded.skipped:
        summary["first_skipped"] = f"row {loaded.skipped[0][0]}: {loaded.skipped[0][1]}"
    print(json.dumps(summary))
    return 0


def _progress(stream, total: int, show: bool):
    if not show or total < 1000:
        yield from stream
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        job = bar.add_task("generating", total=total)
        for i, item in enumerate(stream, 1):
            yield item
            if i % 256 == 0 or i == total:
                bar.update(job, completed=i)
