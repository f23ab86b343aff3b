"""`cotrl gen`: outputs and bad-input errors (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from data_gen.writers import read_items
from rlhf.cli.main import main


def test_list_shows_tasks_and_knobs(capsys):
    assert main(["gen", "--list"]) == 0
    out = capsys.readouterr().out
    assert "integer_arithmetic" in out and "max_digits = 2" in out


def test_gen_jsonl_with_prm(tmp_path, capsys):
    out = tmp_path / "d" / "train.jsonl"
    argv = [
        "gen",
        "--task",
        "integer_arithmetic",
        "--n",
        "25",
        "--seed",
        "4",
        "--out",
        str(out),
        "--prm",
        "--difficulty",
        "3",
        "--set",
        "max_digits=3",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 25 and summary["prm_rows"] == 50
    items = read_items(out)
    assert len(items) == 25 and all(i["difficulty"]["max_digits"] == 3 for i in items)
    prm = read_items(tmp_path / "d" / "train.prm.jsonl")
    assert set(prm[0]) >= {"prompt", "completions", "labels"}
    pb = read_items(tmp_path / "d" / "train.processbench.jsonl")
    assert set(pb[0]) >= {"problem", "steps", "label"}
    first = out.read_bytes()
    assert main(argv + ["--overwrite"]) == 0
    assert out.read_bytes() == first  # same seed, same bytes


def test_gen_parquet_and_hf_load_with_datasets(tmp_path, capsys):
    from datasets import Dataset, load_from_disk

    assert (
        main(["gen", "--task", "integer_arithmetic", "--n", "10", "--out", str(tmp_path / "a.parquet")]) == 0
    )
    assert (
        main(
            [
                "gen",
                "--task",
                "integer_arithmetic",
                "--n",
                "10",
                "--format",
                "hf",
                "--out",
                str(tmp_path / "h"),
            ]
        )
        == 0
    )
    ds = Dataset.from_parquet(str(tmp_path / "a.parquet"))
    hf = load_from_disk(str(tmp_path / "h"))
    for d in (ds, hf):
        assert {"prompt", "messages", "answer"} <= set(d.column_names) and len(d) == 10
        assert d[0]["messages"][0]["role"] == "user"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--task", "nope", "--n", "3"], "valid: "),
        (["--task", "integer_arithmetic", "--n", "0"], "--n must be positive"),
        (
            ["--task", "integer_arithmetic", "--n", "3", "--set", "max_digits=99"],
            "max_digits=99 is out of range",
        ),
        (["--task", "integer_arithmetic", "--n", "3", "--set", "bogus=1"], "unknown knob 'bogus'"),
        (["--task", "integer_arithmetic", "--n", "3", "--difficulty", "42"], "level"),
    ],
)
def test_bad_input_one_line_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "o.jsonl"
    assert main(["gen", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_output_and_unwritable_path(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    out.write_text("keep")
    assert main(["gen", "--task", "integer_arithmetic", "--n", "3", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep"
    adir = tmp_path / "adir"
    adir.mkdir()
    assert main(["gen", "--task", "integer_arithmetic", "--n", "3", "--out", str(adir), "--overwrite"]) == 2
    assert "is a directory" in capsys.readouterr().err and adir.is_dir()
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert (
        main(["gen", "--task", "integer_arithmetic", "--n", "3", "--out", str(blocker / "sub" / "x.jsonl")])
        == 2
    )
    assert "cannot write" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert (
            main(["gen", "--task", "integer_arithmetic", "--n", "3", "--out", str(locked / "x.jsonl")]) == 2
        )
        assert "cannot write" in capsys.readouterr().err
    finally:
        os.chmod(locked, 0o700)


def test_cotrl_gen_subprocess(tmp_path, repo_root):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlhf.cli.main",
            "gen",
            "--task",
            "integer_arithmetic",
            "--n",
            "2",
            "--out",
            str(tmp_path / "s.jsonl"),
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2


def test_reasoning_gym_adapter_and_chat_prompt(tmp_path, capsys):
    from data_gen.generate import generate, get_generator

    items = generate("rg:basic_arithmetic", 5, seed=2)
    gen = get_generator("rg:basic_arithmetic")
    assert items == generate("rg:basic_arithmetic", 5, seed=2)
    for it in items:
        assert it["solution_steps"] == [] and it["meta"]["source"] == "reasoning_gym"
        assert gen.score(it, f"<answer>{it['answer']}</answer>") == 1.0
        assert gen.score(it, f"<answer>{int(it['answer']) + 1}</answer>") == 0.0
    out = tmp_path / "rg.jsonl"
    argv = [
        "gen",
        "--task",
        "rg:basic_arithmetic,integer_arithmetic",
        "--n",
        "6",
        "--out",
        str(out),
        "--prm",
        "--chat-prompt",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["prm_rows"] == 6  # 3 arithmetic items x (gold + corrupted); rg items have no steps
    raw = [json.loads(line) for line in out.read_text().splitlines()]
    assert raw[0]["prompt"] == raw[0]["messages"]  # TRL conversational prompt column
    assert read_items(out)[0]["prompt"] == raw[0]["messages"][0]["content"]
    assert main(["gen", "--task", "rg:no_such_task", "--n", "1", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "basic_arithmetic" in capsys.readouterr().err


@pytest.mark.slow
def test_same_bytes_across_processes_and_hash_seeds(tmp_path, repo_root):
    tasks = "integer_arithmetic,fractions,linear_system,polynomials,finance,word_problems,code_output"
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlhf.cli.main",
                "gen",
                "--task",
                tasks,
                "--n",
                "14",
                "--seed",
                "7",
                "--out",
                str(out),
                "--difficulty",
                "5",
                "--prm",
            ],
            capture_output=True,
            text=True,
            cwd=repo_root,
            env=env,
        )
        assert res.returncode == 0, res.stderr
        outs.append((out.read_bytes(), (tmp_path / f"run{hash_seed}.prm.jsonl").read_bytes()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    ("fmt", "out"), [("parquet", "z.jsonl"), ("jsonl", "z.parquet"), ("hf", "z.jsonl"), ("parquet", "z.json")]
)
def test_gen_refuses_a_format_that_contradicts_the_extension(tmp_path, capsys, fmt, out):
    args = ["gen", "--task", "integer_arithmetic", "--n", "2", "--format", fmt, "--out", str(tmp_path / out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--format {fmt} contradicts the output" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert main(["gen", "--task", "integer_arithmetic", "--n", "2", "--out", str(tmp_path / out)]) == 0
