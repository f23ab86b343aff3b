"""Rows of the files people have: JSONL/JSON, CSV, Parquet, or a `datasets` directory.

One reader for every consumer (RL problem files, SFT data, `cotrl eval --data`, PRM
stepwise data, `cotrl gen --from`), so a layout readable by one is readable by all.
It lives in data_gen (not rlhf) because the public-dataset converters beside it need it
and must not import training code; `rlhf.data.readers` re-exports it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def read_rows(path: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """Rows of a JSONL/JSON, CSV or Parquet file, or of a `datasets` directory."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"data file not found: {p}")
    if p.is_dir():
        rows = _read_datasets_dir(p, split)
    else:
        suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
        readers = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".parquet": _read_parquet}
        if suffix not in readers:
            raise ValueError(
                f"{p}: unsupported data format {suffix!r}; use .jsonl, .json, .csv, .parquet "
                "or a `datasets` directory"
            )
        try:
            rows = readers[suffix](p)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{p}: not UTF-8 text ({exc})") from None
    if not rows:
        raise ValueError(f"{p}: no rows (empty data file)")
    return rows


def _read_jsonl(p: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{p}: line {lineno} must be a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _read_json(p: Path) -> list[dict[str, Any]]:
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return _read_jsonl(p)  # JSON lines saved with a .json name
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{p}: expected a JSON list of objects")
    return data


def _read_csv(p: Path) -> list[dict[str, Any]]:
    with p.open(newline="", encoding="utf-8") as fh:
        rows = [dict(r) for r in csv.DictReader(fh)]
    for row in rows:  # list-valued columns (messages, prompt as messages, steps) arrive as JSON text
        for key in ("messages", "prompt", "completion", "solution_steps", "meta", "difficulty"):
            value = row.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    row[key] = json.loads(value)
                except json.JSONDecodeError:
                    pass
    return rows


def _read_parquet(p: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(p).to_pylist()


def _read_datasets_dir(p: Path, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except FileNotFoundError as exc:
        raise ValueError(f"{p}: not a `datasets` directory saved with save_to_disk ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ValueError(f"{p}: no split {split!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    return [dict(r) for r in ds]
