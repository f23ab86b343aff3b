"""Atomic writers: JSONL, Parquet and a `datasets` directory; and a reader for all three.

Every writer builds the output beside the target (temp name in the same directory) and
renames it into place, so a failure leaves no half-written file. In Parquet and `datasets`
output the free-form `difficulty` and `meta` columns are JSON strings (their keys differ
by task, which a columnar schema cannot hold); `read_items` decodes them back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (`os.umask` sets it, and
    for that instant another thread would create files with mode 0666)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike[str]) -> None:
    """Give `path` (and, for a directory, everything under it) the modes a plain `open` or `mkdir`
    would have given: `tempfile` creates files 0600 and directories 0700 whatever the umask, so a
    file written through a temp name and renamed would otherwise be private to its owner."""
    mask = current_umask()
    root = Path(path)
    if not root.is_dir():
        os.chmod(root, 0o666 & ~mask)
        return
    os.chmod(root, 0o777 & ~mask)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o777 & ~mask)
        for name in filenames:
            full = os.path.join(dirpath, name)
            executable = os.stat(full).st_mode & 0o100
            os.chmod(full, (0o777 if executable else 0o666) & ~mask)


def make_temp_dir(target: Path, suffix: str = "") -> Path:
    """A temp directory beside `target` (for a build-then-rename write) with the umask's mode."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent))
    honour_umask(tmp)
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp path beside `path` to write; renamed over `path` when the block succeeds.

    On any failure the temp file is removed and an existing `path` is left as it was, so a
    reader never sees a half-written file. The file ends with the mode the umask gives a new
    file (0644 under umask 022), not mkstemp's 0600.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        honour_umask(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- helpers


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write through a temp file in the same directory and rename over the target."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


FORMATS = ("jsonl", "parquet", "hf")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def check_format(path: str | os.PathLike[str], fmt: str, flag: str = "--format") -> None:
    """Refuse a format that contradicts the output's extension (Parquet bytes under a `.jsonl`
    name, a `datasets` directory called `x.parquet`): every reader picks the format by suffix."""
    target = Path(path)
    implied = SUFFIX_FORMATS.get(target.suffix.lower())
    if implied is None or implied == fmt:
        return
    wanted = {
        "jsonl": "a .jsonl name",
        "parquet": "a .parquet name",
        "hf": "a directory name without a suffix",
    }
    raise ValueError(
        f"{flag} {fmt} contradicts the output {target} (a {target.suffix} name means {implied}); "
        f"give {wanted[fmt]}, or drop {flag}"
    )


_JSON_COLUMNS = ("difficulty", "meta")


def check_output(path: str | os.PathLike[str], overwrite: bool, directory: bool = False) -> Path:
    """Fail before any work when the output exists (without overwrite) or cannot be written.

    `directory`: the output is a `datasets` directory (a file there may be replaced, and
    a file output may not replace a directory)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise ValueError(f"output {target} already exists; pass --overwrite to replace it")
    if target.is_dir() and not directory:
        raise ValueError(f"output {target} is a directory; give a file path (or --format hf)")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write output {target}: {parent} is not a writable directory")
    return target


def dumps(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(", ", ": "))


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Stream rows to a temp file, then rename over `path`. Returns the row count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps(row))
            fh.write("\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    return count


def _columnar(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: (json.dumps(v, ensure_ascii=False) if k in _JSON_COLUMNS else v) for k, v in r.items()}
        for r in rows
    ]


def write_parquet(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = _columnar(rows)
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(data), tmp)
    return len(data)


def write_hf(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """A `datasets.Dataset.save_to_disk` directory, built in a temp dir and renamed in."""
    from datasets import Dataset

    data = _columnar(rows)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target, suffix=".tmp")
    try:
        Dataset.from_list(data).save_to_disk(str(tmp / "ds"))
        honour_umask(tmp / "ds")
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp / "ds", target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(data)


def write_items(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str], fmt: str = "jsonl") -> int:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return {"jsonl": write_jsonl, "parquet": write_parquet, "hf": write_hf}[fmt](rows, path)


def read_items(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows from any of the three formats, with `difficulty`/`meta` as dicts again."""
    p = Path(path)
    if p.is_dir():
        from datasets import load_from_disk

        rows = load_from_disk(str(p)).to_list()
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(p).to_pylist()
    else:
        with p.open(encoding="utf-8") as fh:
            return [text_prompt(json.loads(line)) for line in fh if line.strip()]
    for r in rows:
        for k in _JSON_COLUMNS:
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
    return [text_prompt(r) for r in rows]


def chat_prompt(row: dict[str, Any]) -> dict[str, Any]:
    """TRL's conversational form: `prompt` holds the message list (written by `--chat-prompt`)."""
    return {**row, "prompt": [dict(m) for m in row["messages"]]}


def text_prompt(row: dict[str, Any]) -> dict[str, Any]:
    """Undo `chat_prompt`: the schema's text prompt is the last user message."""
    if isinstance(row.get("prompt"), list):
        users = [m["content"] for m in row["prompt"] if m.get("role") == "user"]
        return {**row, "prompt": users[-1] if users else ""}
    return row
