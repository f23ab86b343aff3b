"""Each published dataset layout through one GRPO step on the tiny model (`data.source: file`)
and through `cotrl eval --format`; bad data stops the run in one line with nothing written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlhf.cli.main import main
from tests.data_gen import dataset_fixtures as fx

CODE = {"mbpp", "humaneval", "stdio"}
OUTCOME_ONLY = {"math", "numina", "aime"}
LAYOUT = {"gsm8k": "parquet", "math": "hf", "mbpp": "parquet", "stdio": "hf"}  # the rest: JSONL


def _recipe(tmp: Path, model: Path, fmt: str, data: Path, extra: str = "") -> Path:
    outcome = "code_tests" if fmt in CODE else "math_answer"
    text = f"""trainer: grpo
run:
  output_dir: {tmp / "run"}
  seed: 0
  device: cpu
model:
  path: {model}
data:
  source: file
  format: {fmt}
  path: {data}
  prompts_per_step: 2
{extra}rollout:
  backend: transformers
  n: 2
  max_new_tokens: 8
rewards:
  - name: {outcome}
  - name: rule
algo:
  advantage: mixed
train:
  steps: 1
  cpu_threads: 1
"""
    path = tmp / "recipe.yaml"
    path.write_text(text)
    return path


def _data(tmp: Path, fmt: str) -> Path:
    layout = LAYOUT.get(fmt, "jsonl")
    return fx.write(fx.PUBLISHED[fmt], tmp / f"{fmt}.{ {'hf': 'ds'}.get(layout, layout) }", layout)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(fx.PUBLISHED))
def test_one_grpo_step_and_eval_per_format(tmp_path, tiny_model_dir, capsys, fmt):
    data = _data(tmp_path, fmt)
    assert main(["train", str(_recipe(tmp_path, tiny_model_dir, fmt, data))]) == 0, capsys.readouterr().err
    (rec,) = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rec["step"] == 0 and not rec.get("skipped")
    if fmt in OUTCOME_ONLY:  # every step of every completion masked, none scored 0
        n_steps = round(rec["steps_per_completion"] * 4)
        assert n_steps >= 1 and rec["step_reward/rule/none"] == n_steps
        assert rec["step_reward/rule/mean"] is None or math.isnan(rec["step_reward/rule/mean"])
    capsys.readouterr()
    out = tmp_path / "eval.json"
    metric = "code_tests" if fmt in CODE else "math_answer"
    argv = ["eval", str(tmp_path / "run"), "--data", str(data), "--format", fmt, "--split", "train"]
    argv += ["--n", "2", "--max-new-tokens", "8", "--metric", metric, "--threads", "1", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    res = json.loads(out.read_text())
    assert res["n_problems"] == min(2, len(fx.PUBLISHED[fmt])) and 0.0 <= res["accuracy"] <= 1.0
    if fmt in OUTCOME_ONLY:
        assert res["verifiable_steps"] == 0


def test_bad_rows_stop_the_run_before_anything_is_written(tmp_path, tiny_model_dir, capsys):
    rows = fx.GSM8K + [{"question": "q", "answer": "#### many"}]
    data = fx.write(rows, tmp_path / "g.jsonl")
    recipe = _recipe(tmp_path, tiny_model_dir, "gsm8k", data)
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "(gsm8k): 1 of 4 rows cannot be read; first: row 4: answer 'many' is not a number "
        "(to skip such rows: data.skip_bad_rows: true)"
    )
    assert not (tmp_path / "run").exists()
    missing = fx.write([{"question": "q"}], tmp_path / "m.jsonl")
    assert main(["train", str(_recipe(tmp_path, tiny_model_dir, "gsm8k", missing))]) == 2
    assert "no column 'answer' (columns: question)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_format_settings_need_source_file(tmp_path, tiny_model_dir, capsys):
    recipe = _recipe(tmp_path, tiny_model_dir, "gsm8k", _data(tmp_path, "gsm8k"))
    assert main(["train", str(recipe), "data.source=jsonl"]) == 2
    assert "data.format is read only when data.source is 'file'" in capsys.readouterr().err
    assert main(["train", str(recipe), "data.tasks=[{name: integer_arithmetic}]"]) == 2
    assert "data.tasks is read only when data.source is 'generators'" in capsys.readouterr().err
    assert main(["train", str(recipe), "data.format=gsm9k"]) == 2
    assert "data.format 'gsm9k' is not one of gsm8k, math" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_skip_bad_rows_trains_on_the_rest_and_says_how_many(tmp_path, tiny_model_dir, capsys):
    data = fx.write(fx.GSM8K + [{"question": "q", "answer": "#### many"}], tmp_path / "g.jsonl")
    recipe = _recipe(tmp_path, tiny_model_dir, "gsm8k", data, "  skip_bad_rows: true\n")
    assert main(["train", str(recipe)]) == 0
    assert (
        "g.jsonl: 3 rows, 1 skipped (first: row 4: answer 'many' is not a number)" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "fmt, rows, layout", [("prm800k", fx.PRM800K, "parquet"), ("math_shepherd", fx.MATH_SHEPHERD, "hf")]
)
def test_the_prm_trainer_reads_published_layouts_on_the_same_path(tmp_path, fmt, rows, layout):
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.trainers.prm_data import load_data

    data = fx.write(rows * 4, tmp_path / f"d.{layout}", layout)
    raw = {"trainer": "prm", "prm": {"data": "file", "train_file": str(data), "format": fmt, "num_val": 1}}
    train, held, val = load_data(config.from_dict(RunConfig, raw))
    assert len(train) == 2 and len(held) == 1 and len(val) == 1
    assert train[0]["labels"] == [True, False] and held[0][2] == 1  # first wrong step: the second


def test_eval_bad_dataset_is_one_line_and_writes_nothing(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "eval.json"
    for rows, needle in [
        (
            [{"problem": "p", "level": "Level 1"}],
            "(math): no column 'answer' or 'solution' (columns: level, problem)",
        ),
        (
            fx.MATH + [{"problem": "p", "solution": "no box"}],
            "1 of 3 rows cannot be read; first: row 3: no \\boxed{}",
        ),
    ]:
        data = fx.write(rows, tmp_path / "m.jsonl")
        argv = ["eval", str(tiny_model_dir), "--data", str(data), "--format", "math", "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and not out.exists(), err
    assert "(to skip such rows: --skip-bad-rows)" in err


def test_the_prm_trainer_counts_bad_rows_and_names_the_first(tmp_path):
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.trainers.prm_data import load_data

    rows = fx.PRM800K * 4 + [{"question": {"problem": "p"}, "label": {"finish_reason": "give_up"}}]
    data = fx.write(rows, tmp_path / "d.jsonl")
    raw = {
        "trainer": "prm",
        "prm": {"data": "file", "train_file": str(data), "format": "prm800k", "num_val": 1},
    }
    with pytest.raises(ValueError) as err:
        load_data(config.from_dict(RunConfig, raw))
    assert str(err.value) == (
        f"{data} (prm800k): 1 of 5 rows cannot be read; first: row 5: PRM800K row needs question.problem and label.steps"
    )
