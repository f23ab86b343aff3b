"""One reader path for every published layout: a file -> rows -> items (or PRM stepwise rows).

`load_items(fmt, path)` serves `data.source: file` recipes, `cotrl eval --format` and `cotrl gen
--from FORMAT:PATH`; `load_stepwise(fmt, path)` serves the PRM trainer. Both read through
`data_gen.datasets.files.read_rows` (JSONL/JSON, CSV, Parquet, a `datasets` directory).

Bad input is refused before anything runs, in one line: a missing column names the format, the
column and the columns the file has; rows whose answer cannot be read are counted and the first
one is named. Such rows are skipped only when the caller says so (`data.skip_bad_rows: true`,
`--skip-bad-rows`), and then the count is reported, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_gen.datasets import codesets, mathsets
from data_gen.datasets.files import read_rows
from data_gen.datasets.mathsets import RowError
from rewards.types import Problem

Converter = Callable[[dict[str, Any], int], "dict[str, Any] | None"]


def from_items(row: dict[str, Any], index: int) -> dict[str, Any]:
    """The project's own items (what `cotrl gen` writes); Parquet/`datasets` JSON columns decoded."""
    row = dict(row)
    for key in ("meta", "difficulty"):
        if isinstance(row.get(key), str):
            try:
                row[key] = json.loads(row[key])
            except json.JSONDecodeError as exc:
                raise RowError(f"column {key!r} is not JSON ({exc.msg})") from None
    if isinstance(row.get("prompt"), list):  # written with --chat-prompt
        users = [
            m.get("content", "") for m in row["prompt"] if isinstance(m, dict) and m.get("role") == "user"
        ]
        row["prompt"] = users[-1] if users else ""
    try:
        return Problem.from_dict(row).to_dict()
    except (ValueError, TypeError, AttributeError) as exc:
        raise RowError(str(exc)) from None


def _stepwise(fmt: str, neutral: str = "positive") -> Converter:
    """A PRM format's converter (`rewards.prm.convert`), its rows checked as the PRM trainer checks them."""

    def convert(row: dict[str, Any], index: int) -> dict[str, Any] | None:
        from rewards.prm.convert import convert as prm_convert
        from rewards.prm.data import check_row

        try:
            out = next(iter(prm_convert([row], fmt, neutral)), None)  # type: ignore[arg-type]
            return None if out is None else check_row(out, f"row {index + 1}")
        except (ValueError, TypeError, KeyError) as exc:
            raise RowError(str(exc)) from None

    return convert


@dataclass(frozen=True)
class Format:
    convert: Converter
    columns: tuple[tuple[str, ...], ...]  # each entry: a column needed, with its accepted spellings
    kind: str = "items"  # items (problem items) | stepwise (PRM rows: prompt, completions, labels)


FORMATS: dict[str, Format] = {
    "gsm8k": Format(mathsets.from_gsm8k, (("question",), ("answer",))),
    "math": Format(mathsets.from_math, (("problem",), ("answer", "solution"))),
    "numina": Format(mathsets.from_numina, (("problem", "messages"), ("solution", "messages"))),
    "aime": Format(mathsets.from_aime, (("problem", "question"), ("answer", "solution"))),
    "mbpp": Format(codesets.from_mbpp, (("text", "prompt"), ("test_list",))),
    "humaneval": Format(codesets.from_humaneval, (("prompt",), ("test",), ("entry_point",))),
    "stdio": Format(
        codesets.from_stdio,
        (
            ("question", "description", "problem"),
            ("input_output", "public_tests", "private_tests", "generated_tests"),
        ),
    ),
    "items": Format(from_items, (("id",), ("task",), ("prompt",), ("answer",))),
    "prm800k": Format(_stepwise("prm800k"), (("question",), ("label",)), "stepwise"),
    "math_shepherd": Format(_stepwise("math_shepherd"), (("input",), ("label",)), "stepwise"),
    "processbench": Format(_stepwise("processbench"), (("problem",), ("steps",), ("label",)), "stepwise"),
    "stepwise": Format(_stepwise("stepwise"), (("prompt",), ("completions",), ("labels",)), "stepwise"),
}
ITEM_FORMATS = tuple(k for k, f in FORMATS.items() if f.kind == "items")
STEPWISE_FORMATS = tuple(k for k, f in FORMATS.items() if f.kind == "stepwise")


class BadRows(ValueError):
    """Rows whose answer cannot be read, counted, the first named (a ValueError: one clear line)."""


@dataclass
class Loaded:
    rows: list[dict[str, Any]]  # items or stepwise rows
    total: int  # rows in the file
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (1-based row, why), when skipping

    def summary(self, where: str) -> str:
        if not self.skipped:
            return f"{where}: {len(self.rows)} rows"
        row, why = self.skipped[0]
        return f"{where}: {len(self.rows)} rows, {len(self.skipped)} skipped (first: row {row}: {why})"


def get_format(fmt: str, key: str = "format") -> Format:
    if fmt not in FORMATS:
        raise ValueError(f"{key} {fmt!r} is not one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def convert_rows(
    fmt: str,
    rows: Sequence[dict[str, Any]],
    where: str,
    skip_bad_rows: bool = False,
    skip_hint: str | None = "data.skip_bad_rows: true",
    converter: Converter | None = None,
) -> Loaded:
    """Convert every row; a missing column stops at once, unreadable rows are counted first.
    `skip_hint` names the setting that skips them (None: the caller has none)."""
    spec = get_format(fmt)
    convert = converter or spec.convert
    have = {str(k).lower() for r in rows for k in r}
    for names in spec.columns:
        if not any(n.lower() in have for n in names):
            listed = " or ".join(repr(n) for n in names)
            raise ValueError(
                f"{where} ({fmt}): no column {listed} (columns: {', '.join(sorted(have)) or 'none'})"
            )
    out, bad = [], []
    for i, row in enumerate(rows):
        try:
            got = convert(row, i)
        except RowError as exc:
            bad.append((i + 1, str(exc)))
            continue
        if got is not None:
            out.append(got)
    if bad and not skip_bad_rows:
        row, why = bad[0]
        hint = f" (to skip such rows: {skip_hint})" if skip_hint else ""
        raise BadRows(
            f"{where} ({fmt}): {len(bad)} of {len(rows)} rows cannot be read; first: row {row}: {why}{hint}"
        )
    if not out:
        raise ValueError(f"{where} ({fmt}): no usable rows of {len(rows)}")
    return Loaded(out, len(rows), bad)


def load(
    fmt: str,
    path: str | Path,
    split: str = "train",
    skip_bad_rows: bool = False,
    skip_hint: str | None = "data.skip_bad_rows: true",
    converter: Converter | None = None,
) -> Loaded:
    """Read `path` (any layout `read_rows` knows) and convert its rows as `fmt`."""
    get_format(fmt)
    try:
        rows = read_rows(path, split=split)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{fmt} data: {exc}") from None
    except (OSError, ValueError) as exc:  # unreadable: a directory that is no dataset, bad Parquet
        raise ValueError(f"{path} ({fmt}): cannot read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow/datasets raise their own types on a corrupt file
        raise ValueError(f"{path} ({fmt}): cannot read: {type(exc).__name__}: {exc}") from None
    return convert_rows(fmt, rows, str(path), skip_bad_rows, skip_hint, converter)


def load_items(
    fmt: str,
    path: str | Path,
    split: str = "train",
    skip_bad_rows: bool = False,
    skip_hint: str = "data.skip_bad_rows: true",
) -> Loaded:
    """Problem items (not PRM rows) from `path` read as `fmt`."""
    if fmt not in ITEM_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of the item formats {', '.join(ITEM_FORMATS)}")
    return load(fmt, path, split, skip_bad_rows, skip_hint)


def load_stepwise(fmt: str, path: str | Path, neutral: str = "positive") -> list[dict[str, Any]]:
    """PRM stepwise rows (`prompt`, `completions`, `labels`) from a file in a PRM format; the PRM
    trainer has no setting to skip rows, so an unreadable row always stops it."""
    if fmt not in STEPWISE_FORMATS:
        raise ValueError(f"prm.format {fmt!r} is not one of {', '.join(STEPWISE_FORMATS)}")
    return load(fmt, path, skip_hint=None, converter=_stepwise(fmt, neutral)).rows
