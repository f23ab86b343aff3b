"""`cotrl` entry point.

Each subcommand lives in its own module exposing `add_parser(subparsers)`, which
registers the parser and sets `func(args) -> int`. User errors (ValueError,
TypeError, FileNotFoundError) print one line on stderr and exit 2; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rlhf import __version__

# Modules that contribute subcommands, in the order `cotrl --help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "rlhf.cli.train",
    "rlhf.models.tiny",
    "rlhf.cli.export",
    "rlhf.cli.eval",
    "rlhf.cli.view",
    "data_gen.cli",
)

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotrl",
        description="RL post-training for chain-of-thought reasoning: generate data, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"cotrl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `cotrl train r.yaml --overwrite a=b`: argparse stops filling `overrides` at the flag, so
    # dotted overrides after a flag come back unparsed; they belong to the same list
    if (
        extra
        and isinstance(getattr(args, "overrides", None), list)
        and not any(x.startswith("-") for x in extra)
    ):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cotrl: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"cotrl {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
