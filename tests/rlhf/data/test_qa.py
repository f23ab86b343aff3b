"""A user's own domain file (question, answer, optional steps and tolerance) in JSONL, CSV and
Parquet: read as data_gen items by SFT's readers and GRPO's problem file, verified within the
row's tolerance and by the rule step verifier, and bad rows named with their file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rlhf.data.problems import load_jsonl_problems
from rlhf.data.readers import domain_items, load_examples, split_heldout_rows

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vet_domain.jsonl"


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def _cell(row: dict, key: str):
    value = row.get(key)
    return "\n".join(value) if isinstance(value, list) else value


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["question", "answer", "steps", "tolerance"])
            w.writeheader()
            for r in rows:
                steps = r.get("steps")
                w.writerow({**r, "steps": json.dumps(steps) if isinstance(steps, list) else steps})
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = ("question", "answer", "steps", "tolerance")  # every column in every row (schema)
        norm = [{k: _cell(r, k) for k in cols} for r in rows]
        pq.write_table(pa.Table.from_pylist(norm), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_gives_the_same_items(tmp_path, suffix):
    items = domain_items(_write(tmp_path / f"vet{suffix}", _rows()))
    ref = domain_items(FIXTURE)
    assert [(i["prompt"], i["answer"], i["solution_steps"], i["meta"]["abs_tol"]) for i in items] == [
        (i["prompt"], i["answer"], i["solution_steps"], i["meta"]["abs_tol"]) for i in ref
    ]
    assert ref[0]["solution_steps"] == ["Dose: 80 * 8 = 640"] and ref[1]["solution_steps"] == []
    assert ref[1]["meta"]["abs_tol"] == 0.5 and ref[0]["meta"]["abs_tol"] == 0.0
    assert ref[2]["solution_steps"] == ["Hay: 9 * 8 = 72"]  # steps as text lines


def test_sft_reads_the_file_and_grpo_reads_it_as_problems(tmp_path):
    examples = load_examples(FIXTURE)
    assert len(examples) == 40
    assert (
        examples[0].completion.endswith("<answer>640</answer>")
        and "Dose: 80 * 8 = 640" in examples[0].completion
    )
    assert examples[1].completion == "<answer>12</answer>"  # no steps: the answer alone
    problems = load_jsonl_problems(FIXTURE)
    assert problems[0].answer == "640" and problems[1].meta["abs_tol"] == 0.5
    csv_problems = load_jsonl_problems(_write(tmp_path / "vet.csv", _rows()))
    assert [p.answer for p in csv_problems] == [p.answer for p in problems]


def test_verifiers_honour_tolerance_and_steps():
    from rewards.registry import REWARDS, STEP_REWARDS
    from rewards.types import Problem, StepSpan

    problems = [Problem.from_dict(r) for r in domain_items(FIXTURE)[:2]]
    answer = REWARDS.get("math_answer")()
    got = answer(
        [problems[1], problems[1], problems[0]],
        ["<answer>12.4</answer>", "<answer>12.6</answer>", "<answer>641</answer>"],
    )
    assert got == [1.0, 0.0, 0.0]  # within the row's tolerance 0.5 / outside it / exact when none is given
    rule = STEP_REWARDS.get("rule")()
    scores = rule.score_steps(
        [problems[0], problems[0]],
        [[StepSpan(0, 1, "Dose: 80 * 8 = 640")], [StepSpan(0, 1, "Dose: 80 * 8 = 650")]],
    )
    assert scores == [[1.0], [0.0]]


def test_missing_answers_name_rows_and_file(tmp_path):
    rows = _rows()
    rows[2]["answer"] = ""
    del rows[6]["answer"]
    rows[9]["tolerance"] = "about 1"
    bad = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ValueError) as exc:
        domain_items(bad)
    msg = str(exc.value)
    assert (
        str(bad) in msg and "rows 3, 7 of 40: missing 'answer'" in msg and "row 10 of 40: 'tolerance'" in msg
    )
    with pytest.raises(ValueError, match=r"rows 3, 7 of 40: missing 'answer'"):
        load_examples(bad)
    with pytest.raises(ValueError, match=r"bad.csv.*rows 3, 7 of 40: missing 'answer'"):
        domain_items(_write(tmp_path / "bad.csv", rows))
    unreadable = tmp_path / "broken.jsonl"
    unreadable.write_text(FIXTURE.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"broken.jsonl: line 41 is not valid JSON"):
        domain_items(unreadable)


def test_split_keeps_train_val_heldout_apart():
    rows = domain_items(FIXTURE)
    train, val, held = split_heldout_rows(rows, 4, 6, seed=0)
    assert (len(train), len(val), len(held)) == (30, 4, 6)
    ids = [r["id"] for r in train + val + held]
    assert len(set(ids)) == 40
    with pytest.raises(ValueError, match="40 domain rows cannot give 30 held-out"):
        split_heldout_rows(rows, 10, 30, seed=0)


def test_cotrl_eval_reads_the_users_file():
    from rlhf.eval.evaluator import file_problems

    problems = file_problems(FIXTURE)
    assert len(problems) == 40 and problems[1].meta["abs_tol"] == 0.5
