"""Hostile data files for the dataset readers (RL problems: rlhf.data.problems; SFT rows: rlhf.data.readers):
random bytes, random JSON and random CSV always give rows or a clear ValueError/TypeError
(naming the file), never another exception."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.types import Problem
from rlhf.data.problems import load_jsonl_problems
from rlhf.data.readers import load_examples

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "id",
    "task",
    "prompt",
    "answer",
    "messages",
    "solution_steps",
    "difficulty",
    "meta",
    "completion",
    "response",
    "role",
    "content",
]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner, max_size=5),
    ),
    max_leaves=15,
)
rows = st.lists(
    st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)), max_size=5
)


def _write(suffix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def _clear_error(exc: Exception, path: Path) -> None:
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    assert str(exc) and str(path) in str(exc), str(exc)


def _jsonl(items) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in items).encode()


@SETTINGS
@given(st.one_of(rows.map(_jsonl), st.binary(max_size=200)))
def test_rl_problem_reader(data):
    path = _write(".jsonl", data)
    try:
        problems = load_jsonl_problems(path)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        _clear_error(exc, path)
    else:
        assert problems and all(isinstance(p, Problem) for p in problems)
    finally:
        path.unlink()


@SETTINGS
@given(
    st.sampled_from([".jsonl", ".json", ".csv"]),
    st.one_of(rows.map(_jsonl), st.binary(max_size=200), rows.map(lambda r: json.dumps(r).encode())),
)
def test_sft_reader(suffix, data):
    if suffix == ".csv":
        data = data.replace(b"\x00", b"")  # the csv module refuses NUL before we see a row
    path = _write(suffix, data)
    try:
        examples = load_examples(path)
    except Exception as exc:  # noqa: BLE001
        _clear_error(exc, path)
    else:
        assert examples and all(e.completion is not None for e in examples)
    finally:
        path.unlink()


@SETTINGS
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["prompt", "completion", "messages", "answer", "x"]),
            st.one_of(st.text(max_size=20), st.just('[{"role": "user"}]'), st.just("{")),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_sft_reader_csv_columns(records):
    import csv
    import io

    cols = sorted({k for r in records for k in r}) or ["x"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    writer.writerows(records)
    path = _write(".csv", buf.getvalue().encode())
    try:
        load_examples(path)
    except Exception as exc:  # noqa: BLE001
        _clear_error(exc, path)
    finally:
        path.unlink()
