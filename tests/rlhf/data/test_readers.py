"""SFT data readers: every format and row form, mixing, and the bad-input errors."""

from __future__ import annotations

import csv
import json

import pytest

from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.data.readers import extract_answer, load_examples, mix, read_rows, split_heldout

PC_ROWS = [
    {
        "prompt": f"What is {i} + 1?",
        "completion": f"<think>\n{i} + 1 = {i + 1}\n</think>\n<answer>{i + 1}</answer>",
    }
    for i in range(6)
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_format_reads_the_same_examples(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref = load_examples(_jsonl(tmp_path / "d.jsonl", PC_ROWS))
    with (tmp_path / "d.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["prompt", "completion"])
        w.writeheader()
        w.writerows(PC_ROWS)
    pq.write_table(pa.Table.from_pylist(PC_ROWS), tmp_path / "d.parquet")
    datasets.Dataset.from_list(PC_ROWS).save_to_disk(str(tmp_path / "ds"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(PC_ROWS)}).save_to_disk(str(tmp_path / "dsd"))
    for name in ("d.csv", "d.parquet", "ds", "dsd"):
        assert load_examples(tmp_path / name) == ref, name
    assert ref[2].prompt == ({"role": "user", "content": "What is 2 + 1?"},)
    assert ref[2].answer == "3"  # reference taken from the <answer> span
    assert ref[2].to_record()["completion"] == [{"role": "assistant", "content": PC_ROWS[2]["completion"]}]


def test_chat_rows_and_message_prompts(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris"},
            ],
            "answer": "Paris",
        },
    ]
    ex = load_examples(_jsonl(tmp_path / "c.jsonl", rows))
    assert [len(e.prompt) for e in ex] == [2, 1]
    assert [e.completion for e in ex] == ["4", "Paris"] and ex[0].answer == "4"
    pc = [
        {
            "prompt": [{"role": "user", "content": "hi"}],
            "completion": [{"role": "assistant", "content": "hello"}],
        }
    ]
    (e,) = load_examples(_jsonl(tmp_path / "p.jsonl", pc))
    assert e.prompt[0]["content"] == "hi" and e.completion == "hello"


def test_datagen_items_render_gold_completion(tmp_path):
    pytest.importorskip("data_gen.render")
    item = {
        "id": "a-0",
        "task": "arithmetic",
        "prompt": "Compute 7 * 3 + 1.",
        "answer": "22",
        "messages": [{"role": "user", "content": "Compute 7 * 3 + 1."}],
        "solution_steps": ["Multiply: 7 * 3 = 21", "Add: 21 + 1 = 22"],
        "difficulty": {},
        "meta": {},
    }
    (e,) = load_examples(_jsonl(tmp_path / "g.jsonl", [item]))
    assert e.completion == "<think>\nMultiply: 7 * 3 = 21\nAdd: 21 + 1 = 22\n</think>\n<answer>22</answer>"
    assert e.answer == "22" and e.problem["id"] == "a-0"


def test_missing_columns_name_rows_and_columns(tmp_path):
    rows = [PC_ROWS[0], {"prompt": "x"}, PC_ROWS[1], {"completion": "y"}, {"prompt": "z"}]
    with pytest.raises(ValueError) as info:
        load_examples(_jsonl(tmp_path / "bad.jsonl", rows))
    msg = str(info.value)
    assert "bad.jsonl" in msg and "rows 2, 5 of 5: missing column 'completion'" in msg
    assert "row 4 of 5: missing column 'prompt'" in msg
    with pytest.raises(ValueError, match=r"no usable columns \(found: query, reply\)"):
        load_examples(_jsonl(tmp_path / "cols.jsonl", [{"query": "q", "reply": "r"}]))
    with pytest.raises(ValueError, match=r"\(qa form\): row 1 of 1: missing 'answer'"):  # a user's domain row
        load_examples(_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "reply": "r"}]))
    chat = [{"messages": [{"role": "user", "content": "only a question"}]}]
    with pytest.raises(ValueError, match="row 1 of 1: column 'messages' must end with an assistant message"):
        load_examples(_jsonl(tmp_path / "chat.jsonl", chat))


def test_empty_and_malformed_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="empty.jsonl: no rows"):
        read_rows(tmp_path / "empty.jsonl")
    (tmp_path / "empty.csv").write_text("prompt,completion\n")
    with pytest.raises(ValueError, match="no rows"):
        read_rows(tmp_path / "empty.csv")
    (tmp_path / "broken.jsonl").write_text('{"prompt": "a", "completion": "b"}\n{"prompt": \n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        read_rows(tmp_path / "broken.jsonl")
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_rows(tmp_path / "nope.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported data format '.txt'"):
        read_rows(tmp_path / "d.txt")


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5])
def test_ratio_out_of_range_is_a_config_error(ratio):
    with pytest.raises(
        config.ConfigError, match=rf"sft.domain_ratio must be in \(0, 1\], got {float(ratio)}"
    ):
        config.from_dict(RunConfig, {"trainer": "sft", "sft": {"domain_ratio": ratio}})


def test_mix_hits_the_ratio_and_keeps_all_domain(tmp_path):
    dom = load_examples(_jsonl(tmp_path / "d.jsonl", PC_ROWS), "domain")
    gen_rows = [{"prompt": f"g{i}", "completion": f"c{i}"} for i in range(5)]
    gen = load_examples(_jsonl(tmp_path / "g.jsonl", gen_rows), "general")
    mixed, stats = mix(dom, gen, 0.3, seed=0)
    assert stats["domain_examples"] == 6 and stats["general_examples"] == 14  # 6 / 20 = 0.3, general cycled
    assert sum(e.source == "domain" for e in mixed) == 6 and abs(stats["domain_fraction"] - 0.3) < 1e-9
    assert mix(dom, gen, 1.0, seed=0)[1]["general_examples"] == 0
    with pytest.raises(ValueError, match="asks for general data but none was given"):
        mix(dom, [], 0.5, seed=0)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        mix(dom, gen, 0.0, seed=0)


def test_heldout_split_is_disjoint_and_seeded(tmp_path):
    ex = load_examples(_jsonl(tmp_path / "d.jsonl", PC_ROWS))
    train, held = split_heldout(ex, 0.34, seed=1)
    assert len(held) == 2 and len(train) == 4 and not set(map(id, train)) & set(map(id, held))
    assert split_heldout(ex, 0.34, seed=1) == (train, held)
    assert extract_answer("<answer> 1 </answer> then <answer>2</answer>") == "2"
