"""Public dataset layouts -> problem items: each format's conventions, every file layout, bad input."""

from __future__ import annotations

import json

import pytest

from data_gen.datasets.load import FORMATS, ITEM_FORMATS, BadRows, load, load_items
from data_gen.datasets.mathsets import gsm8k_steps, last_boxed
from rewards.steps import Verdict, verify_steps
from rewards.types import Problem
from tests.data_gen import dataset_fixtures as fx


def _items(tmp_path, fmt, rows, layout="jsonl", **kw):
    path = fx.write(rows, tmp_path / f"{fmt}.{ {'hf': 'ds'}.get(layout, layout) }", layout)
    return load_items(fmt, path, **kw).rows


def test_gsm8k_annotations_become_steps_the_rule_verifier_accepts(tmp_path):
    items = _items(tmp_path, "gsm8k", fx.GSM8K)
    assert [i["answer"] for i in items] == ["72", "10", "1200"]  # `#### 1,200` -> 1200
    assert items[0]["solution_steps"] == [
        "Natalia sold 48/2 = 24 clips in May.",
        "Natalia sold 48+24 = 72 clips altogether in April and May.",
    ]
    assert items[2]["solution_steps"] == ["It sells 3*400 = 1200 pens."]  # hidden sum made visible
    for item in items:
        verdicts = [v.verdict for v in verify_steps(item, item["solution_steps"])]
        assert verdicts and all(v is Verdict.CORRECT for v in verdicts), (item["id"], verdicts)
        assert item["meta"]["step_check"] == "equal"
    wrong = verify_steps(items[0], ["Natalia sold 48/2 = 25 clips in May."])
    assert wrong[0].verdict is Verdict.INCORRECT  # the same steps do catch a slip


def test_gsm8k_with_a_wrong_annotation_is_outcome_only(tmp_path):
    row = {"question": "q", "answer": "So 2+2 = <<2+2=5>>5.\n#### 5"}
    (item,) = _items(tmp_path, "gsm8k", [row])
    assert item["meta"]["step_check"] == "none"
    assert gsm8k_steps("no annotations here\n#### 3") == [("no annotations here",) * 2]


def test_gsm8k_prose_the_verifier_misreads_falls_back_to_the_annotation(tmp_path):
    row = {"question": "q", "answer": "He bought 3 packs x $4 = $<<3*4=12>>12.\n#### 12"}
    (item,) = _items(tmp_path, "gsm8k", [row])
    assert item["solution_steps"] == ["He bought 3 packs x $4 is $12, since 3*4 = 12."]
    assert item["meta"]["step_check"] == "equal"
    assert verify_steps(item, ["He bought 3 packs x $4 = $12."])[0].verdict is Verdict.INCORRECT


def test_math_and_math500_answers_level_and_type(tmp_path):
    items = _items(tmp_path, "math", fx.MATH)
    assert [i["answer"] for i in items] == ["\\frac{3}{4}", "1024"]  # the last box, braces balanced
    assert items[0]["meta"]["level"] == "Level 1" and items[0]["meta"]["type"] == "Prealgebra"
    assert items[0]["difficulty"] == {"level": 1}
    assert all(i["meta"]["step_check"] == "none" for i in items)
    (m500,) = _items(tmp_path, "math", fx.MATH500)
    assert m500["answer"] == "6" and m500["meta"]["subject"] == "Number Theory"
    assert m500["id"] == "math-test/number_theory/1.json" and m500["difficulty"] == {"level": 2}
    assert last_boxed("x \\boxed{\\sqrt{2}} and \\fbox{a{b}c}") == "a{b}c"


def test_numina_aime_and_bad_rows(tmp_path):
    (num,) = _items(tmp_path, "numina", fx.NUMINA[:1])
    assert num["answer"] == "3" and num["meta"]["origin"] == "synthetic_math"
    with pytest.raises(BadRows, match=r"1 of 2 rows cannot be read; first: row 2: no \\boxed"):
        _items(tmp_path, "numina", fx.NUMINA)
    only_messages = {"source": "cn_k12", "messages": fx.NUMINA[0]["messages"]}
    (msg,) = _items(tmp_path, "numina", [only_messages])
    assert msg["answer"] == "3" and msg["prompt"] == fx.NUMINA[0]["problem"]
    fx.write(fx.NUMINA, tmp_path / "numina.jsonl")
    kept = load_items("numina", tmp_path / "numina.jsonl", skip_bad_rows=True)
    assert len(kept.rows) == 1 and kept.skipped[0][0] == 2 and "1 skipped" in kept.summary("f")
    aime = _items(tmp_path, "aime", fx.AIME + [{"ID": "x", "Problem": "p", "Answer": "077"}])
    assert [i["answer"] for i in aime] == ["24", "77", "77"] and aime[0]["id"] == "aime-2024-I-1"
    with pytest.raises(BadRows, match=r"row 1: answer '3/4' is not an integer"):
        _items(tmp_path, "aime", [{"problem": "p", "answer": "3/4"}])


def test_code_formats_carry_tests_and_execution_facts(tmp_path):
    mbpp = _items(tmp_path, "mbpp", fx.MBPP)
    assert (
        mbpp[1]["meta"]["entry_point"] == "is_not_prime"
        and mbpp[0]["meta"]["entry_point"] == "similar_elements"
    )
    assert "assert is_not_prime(10) == True" in mbpp[1]["meta"]["tests"]
    assert mbpp[1]["solution_steps"] == ["Check: is_not_prime(2) = False", "Check: is_not_prime(10) = True"]
    assert "is_not_prime(2) == False" in mbpp[1]["prompt"]  # the first test is shown, as in the paper
    (he,) = _items(tmp_path, "humaneval", fx.HUMANEVAL)
    assert he["id"] == "humaneval-HumanEval-0" and he["meta"]["prefix"] == fx.HUMANEVAL[0]["prompt"]
    assert he["solution_steps"] == ["Check: add(1, 2) = 3", "Check: add(-1, 1) = 0"]
    (apps,) = _items(tmp_path, "stdio", fx.APPS)
    assert apps["meta"]["cases"] == [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "5 7\n", "output": "12\n"},
    ]
    assert apps["solution_steps"][0] == "Case 1: input '1 2' prints '3'"
    (cc,) = _items(tmp_path, "stdio", fx.CODE_CONTESTS)
    assert [c["input"] for c in cc["meta"]["cases"]] == ["3\n", "10\n"] and cc["answer"].startswith("print")
    call = dict(fx.APPS[0], input_output=json.dumps({"inputs": [[1]], "outputs": [[2]], "fn_name": "f"}))
    with pytest.raises(BadRows, match="call-based problem"):
        _items(tmp_path, "stdio", [call])


@pytest.mark.slow
def test_code_items_pass_their_own_reference_in_the_sandbox(tmp_path):
    from rewards.code.verify import CodeTestsReward

    probs = [
        Problem.from_dict(i)
        for f in ("mbpp", "humaneval", "stdio")
        for i in _items(tmp_path, f, fx.PUBLISHED[f])
    ]
    cc = [Problem.from_dict(i) for i in _items(tmp_path, "stdio", fx.CODE_CONTESTS)]
    probs += cc
    gold = [f"```python\n{p.answer}\n```" for p in probs]
    assert CodeTestsReward()(probs, gold) == [1.0] * len(probs)
    assert CodeTestsReward()(probs, ["```python\nprint(0)\n```"] * len(probs)) == [0.0] * len(probs)
    verdicts = verify_steps(probs[1], list(probs[1].solution_steps))  # mbpp facts run on the reference
    assert [v.verdict for v in verdicts] == [Verdict.CORRECT, Verdict.CORRECT]


@pytest.mark.parametrize("layout", ["parquet", "hf"])
def test_every_layout_gives_the_same_items(tmp_path, layout):
    for fmt in ITEM_FORMATS:
        rows = fx.PUBLISHED[fmt]
        if fmt == "items" and layout != "jsonl":  # as `cotrl gen` writes them: JSON text columns
            rows = [
                {**r, "meta": json.dumps(r["meta"]), "difficulty": json.dumps(r["difficulty"])} for r in rows
            ]
        ref = _items(tmp_path, fmt, fx.PUBLISHED[fmt])  # JSONL
        assert _items(tmp_path, fmt, rows, layout) == ref, fmt


def test_prm_formats_share_the_reader_path(tmp_path):
    prm = load("prm800k", fx.write(fx.PRM800K, tmp_path / "p.parquet", "parquet")).rows
    assert prm == [
        {
            "prompt": "What is 2 + 3 * 4?",
            "completions": ["3 * 4 = 12", "2 + 12 = 15"],
            "labels": [True, False],
        }
    ]
    shep = load("math_shepherd", fx.write(fx.MATH_SHEPHERD, tmp_path / "s", "hf")).rows
    assert shep[0]["labels"] == [True, False] and shep[0]["completions"][0] == "Step 1: 3 * 4 = 12"
    assert FORMATS["prm800k"].kind == "stepwise" and "prm800k" not in ITEM_FORMATS
    with pytest.raises(BadRows, match=r"1 of 1 rows cannot be read; first: row 1: Math-Shepherd row has no"):
        load("math_shepherd", fx.write([{"input": "q", "label": "q"}], tmp_path / "b.jsonl"))


def test_missing_answer_column_and_unreadable_files_are_one_clear_line(tmp_path):
    path = fx.write([{"question": "q", "solution": "s"}], tmp_path / "g.jsonl")
    with pytest.raises(ValueError) as err:
        load_items("gsm8k", path)
    assert str(err.value) == f"{path} (gsm8k): no column 'answer' (columns: question, solution)"
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match=r"bad.parquet \(math\): cannot read: ") as err:
        load_items("math", bad)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_items("math", tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="'gsm9k' is not one of"):
        load_items("gsm9k", path)
    with pytest.raises(ValueError, match="not one of the item formats"):
        load_items("prm800k", path)
