"""`cotrl eval CHECKPOINT (--task NAME | --data FILE) [--k 8] [--backend auto] [--threads auto]`.

The SFT trainer's held-out curve goes through the same evaluator (`rlhf.eval.sft`), so
`cotrl eval` on its saved model reproduces the accuracy it logged (`--metric` set to the
run's `sft.eval_metric`, `--max-new-tokens` to `sft.eval_max_new_tokens`, `--batch-size 16`
for the very same decode batches).

CHECKPOINT is an HF model directory, a LoRA adapter directory (over `--base` or the base
its adapter_config names), or a run directory from `cotrl train` (any policy trainer; its
final policy found through `rlhf.runtime.rundir.RunDir`, a PRM run refused by name). Problems come from a
data_gen generator's split (`--task integer_arithmetic --n 200 --split test`) or from a
file of data_gen items (JSONL/JSON/CSV/Parquet or a `datasets` directory), or of a published
dataset with `--format` (`--data gsm8k/test.jsonl --format gsm8k`; `--metric code_tests` for
mbpp, humaneval, stdio). Prints a table
and writes the metrics as JSON (`--out`, else stdout).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlhf.eval import evaluator as ev


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint: accuracy, pass@k, maj@k, step accuracy")
    p.add_argument("checkpoint", help="HF model dir, LoRA adapter dir, or run dir")
    p.add_argument("--base", help="base model dir for an adapter (default: the adapter's own record)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="data_gen generator name (items from --split)")
    src.add_argument("--data", help="file or datasets dir of data_gen items")
    p.add_argument(
        "--format",
        default="",
        help="--data is a published dataset: gsm8k, math, numina, aime, mbpp, humaneval, stdio, items",
    )
    p.add_argument("--skip-bad-rows", action="store_true", help="with --format: skip unreadable rows")
    p.add_argument("--n", type=int, default=100, help="problems to evaluate (a file: the first N; 0: all)")
    p.add_argument("--split", default="test", help="generator split (train/test) or datasets split")
    p.add_argument("--level", type=float, help="generator difficulty level 0-10")
    p.add_argument("--params", default="{}", help="generator knobs as JSON, e.g. '{\"max_digits\": 1}'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--k", type=int, default=0, help="samples per problem for pass@k and maj@k (0: greedy only)"
    )
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument(
        "--metric",
        default="math_answer",
        help="answer scorer: exact_match or a registered outcome reward (math_answer, code_tests, ...)",
    )
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--backend", choices=("transformers", "vllm", "auto"), default="transformers")
    p.add_argument(
        "--batch-size", type=int, default=0, help="transformers backend: rows decoded at once (0: all)"
    )
    p.add_argument(
        "--threads",
        default="auto",
        help="torch intra-op threads: auto (1 for a model under 20M parameters on CPU, else every core), "
        "or a count (0: torch's default)",
    )
    p.add_argument("--system-prompt")
    p.add_argument("--out", help="write the JSON result here (default: print it)")
    p.set_defaults(func=run)


def run(args) -> int:
    from rlhf.runtime.progress import quiet_libraries
    from rlhf.runtime.threads import apply_threads, parse_threads

    quiet_libraries()
    threads = parse_threads(args.threads)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params is not JSON: {exc.msg}") from None
    settings = ev.EvalSettings(
        k=args.k,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        backend=args.backend,
        batch_size=args.batch_size,
        seed=args.seed,
        system_prompt=args.system_prompt,
        metric=args.metric,
    )
    model_dir, adapter = ev.resolve_checkpoint(
        args.checkpoint, args.base
    )  # missing inputs fail before loading
    if args.data:
        if not Path(args.data).exists():
            raise FileNotFoundError(f"dataset not found: {args.data}")
        problems = ev.file_problems(args.data, args.n or None, args.split, args.format, args.skip_bad_rows)
    else:
        if args.format or args.skip_bad_rows:
            raise ValueError("--format and --skip-bad-rows apply only with --data")
        problems = ev.generated_problems(args.task, args.n, args.split, args.seed, args.level, params)
    model, tok = ev.load_model(model_dir, adapter)
    apply_threads(threads, model, key="--threads")
    result = ev.evaluate(model, tok, problems, settings, model_dir=model_dir)
    result = {
        "checkpoint": str(args.checkpoint),
        "source": args.data or f"{args.task}:{args.split}",
        **{k: (None if isinstance(v, float) and v != v else v) for k, v in result.items()},
    }  # NaN -> null
    from rich.console import Console

    Console(stderr=True).print(ev.table(result))
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        from data_gen.writers import atomic_write_text

        atomic_write_text(Path(args.out), text)
    else:
        sys.stdout.write(text + "\n")
    return 0
