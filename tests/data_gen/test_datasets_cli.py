"""`cotrl gen --from FORMAT:PATH`: published layouts converted to items; bad input is one line,
exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

from data_gen.writers import read_items
from rlhf.cli.main import main
from tests.data_gen import dataset_fixtures as fx


def test_gen_from_converts_to_items_that_read_back(tmp_path, capsys):
    src = fx.write(fx.GSM8K, tmp_path / "train.parquet", "parquet")
    out = tmp_path / "items.jsonl"
    assert main(["gen", "--from", f"gsm8k:{src}", "--out", str(out), "--n", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 2 and summary["rows_read"] == 3 and summary["skipped"] == 0
    items = read_items(out)
    assert [i["answer"] for i in items] == ["72", "10"] and items[0]["task"] == "gsm8k"
    # the items file is itself a dataset the `items` format reads
    again = tmp_path / "again.parquet"
    assert main(["gen", "--from", f"items:{out}", "--out", str(again)]) == 0
    assert read_items(again) == items


def test_gen_from_prm800k_writes_stepwise_rows(tmp_path, capsys):
    src = fx.write(fx.PRM800K, tmp_path / "prm.jsonl")
    out = tmp_path / "stepwise.jsonl"
    assert main(["gen", "--from", f"prm800k:{src}", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["labels"] == [True, False]


@pytest.mark.parametrize(
    "rows, extra, needle",
    [
        ([{"question": "q"}], [], "(gsm8k): no column 'answer' (columns: question)"),
        (
            fx.GSM8K
            + [{"question": "q", "answer": "no final line"}, {"question": "r", "answer": "#### many"}],
            [],
            "2 of 5 rows cannot be read; first: row 4: column 'answer' has no '#### <number>' final line "
            "(to skip such rows: --skip-bad-rows)",
        ),
        (fx.GSM8K, ["--task", "integer_arithmetic"], "--task does not apply with --from"),
    ],
)
def test_gen_from_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, rows, extra, needle):
    src = fx.write(rows, tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    assert main(["gen", "--from", f"gsm8k:{src}", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not out.exists()


def test_gen_from_skips_bad_rows_only_when_asked(tmp_path, capsys):
    src = fx.write(fx.GSM8K + [{"question": "q", "answer": "#### many"}], tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    assert main(["gen", "--from", f"gsm8k:{src}", "--out", str(out), "--skip-bad-rows"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 3 and summary["skipped"] == 1
    assert summary["first_skipped"] == "row 4: answer 'many' is not a number"


def test_gen_from_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"\x00garbage")
    out = tmp_path / "o.jsonl"
    assert main(["gen", "--from", f"math:{bad}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "x.parquet (math): cannot read:" in err and err.count("\n") == 1 and not out.exists()
    assert main(["gen", "--from", "gsm8k", "--out", str(out)]) == 2
    assert "must look like FORMAT:PATH" in capsys.readouterr().err
