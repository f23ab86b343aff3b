"""Every recipe under recipes/ runs as written, with tiny settings, through `cotrl train`.

Recipes tested elsewhere are listed in COVERED_ELSEWHERE; a new recipe with no test fails
`test_every_recipe_is_exercised`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlhf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
COVERED_ELSEWHERE = {
    "sft_warmstart": "tests/rlhf/trainers/test_sft_recipes.py",
    "sft_lora_domain": "tests/rlhf/trainers/test_sft_recipes.py",
    "grpo_lora_domain": "tests/rlhf/trainers/test_sft_recipes.py",
    "prm_train": "tests/rlhf/trainers/test_prm_trainer.py",
    "prm_on_policy": "tests/rlhf/trainers/test_prm_trainer.py",
}
RL_TINY = [
    "model.path=tiny",  # a random model: these tests check plumbing, not learning
    "train.steps=2",
    "data.prompts_per_step=2",
    "rollout.n=2",
    "rollout.max_new_tokens=12",
    "run.save_every=0",
    "run.device=cpu",
]
RL_RECIPES = ("grpo_outcome", "grpo_process", "ppo_process")
COVERED_HERE = set(RL_RECIPES) | {"grpo_vllm", "distill"}


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]


def test_every_recipe_is_exercised():
    names = {p.stem for p in (REPO / "recipes").glob("*.yaml")}
    assert names <= set(COVERED_ELSEWHERE) | COVERED_HERE, names - set(COVERED_ELSEWHERE) - COVERED_HERE
    for name, where in COVERED_ELSEWHERE.items():
        assert f"recipes/{name}.yaml" in (REPO / where).read_text(), (name, where)
    for path in (REPO / "recipes").glob("*.yaml"):
        head = path.read_text().splitlines()[:12]
        assert any(f"cotrl train recipes/{path.name}" in line for line in head), (
            f"{path.name}: header lacks its command"
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", RL_RECIPES)
def test_rl_recipe_runs_as_written(name, tmp_path):
    out = tmp_path / name
    assert main(["train", str(REPO / "recipes" / f"{name}.yaml"), f"run.output_dir={out}", *RL_TINY]) == 0
    recs = _metrics(out)
    assert [r["step"] for r in recs] == [0, 1]
    assert (out / "model").is_dir() and (out / "plots" / "training_curves.png").is_file()  # full finetune
    if name in ("grpo_process", "ppo_process"):  # the rule step verifier scored steps
        assert "steps_per_completion" in recs[0]


@pytest.mark.slow
@pytest.mark.vllm
def test_grpo_vllm_recipe_runs_as_written(tmp_path):
    pytest.importorskip("vllm")
    out = tmp_path / "grpo_vllm"
    assert main(["train", str(REPO / "recipes/grpo_vllm.yaml"), f"run.output_dir={out}", *RL_TINY]) == 0
    assert [r["step"] for r in _metrics(out)] == [0, 1]


@pytest.mark.slow
def test_distill_recipe_runs_and_trains_the_student_on_kept_traces(tmp_path, tiny_model_dir):
    out = tmp_path / "distill"
    rc = main(
        [
            "train",
            str(REPO / "recipes/distill.yaml"),
            f"run.output_dir={out}",
            f"distill.teacher={tiny_model_dir}",
            "distill.verifier=tests.e2e.helpers:accept_all",
            "distill.require_correct_steps=false",
            "distill.generate.n=6",
            "distill.heldout=2",
            "distill.samples_per_problem=2",
            "distill.keep_per_problem=2",
            "distill.max_new_tokens=8",
            "sft.max_steps=2",
            "sft.batch_size=4",
            "sft.eval_max_new_tokens=8",
            "tiny.vocab_size=300",
        ]
    )
    assert rc == 0
    stats = json.loads((out / "distill_stats.json").read_text())
    assert stats["samples"] == 12 and stats["accepted_samples"] == 12
    traces = [json.loads(x) for x in (out / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == stats["traces_kept"] <= 12 and all(len({t["id"] for t in traces}) == 6 for _ in [0])
    result = json.loads((out / "result.json").read_text())
    assert (
        result["trainer"] == "distill" and result["steps"] == 2 and (out / "model" / "config.json").is_file()
    )


# ----------------------------------------------------------------------------- bad input: one line, exit 2


def _one_line_error(capsys) -> str:
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("cotrl train: error:")]
    assert len(err) == 1, err  # progress bars aside, one error line
    return err[0]


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["model.path=/nonexistent/model/dir"], "no such model directory"),
        (["data.source=jsonl", "data.path=/nonexistent/items.jsonl"], "file not found"),
        (["rewards=[{name: no_such_reward}]"], "unknown reward 'no_such_reward'"),
        (["algo.advantage=no_such_estimator"], "no_such_estimator"),
        (["lora.enabled=true", "lora.target_modules=[query_key_value]"], "query_key_value"),
    ],
)
def test_bad_recipe_input_fails_cleanly(overrides, needle, tmp_path, capsys, tiny_model_dir):
    out = tmp_path / "run"
    argv = [
        "train",
        str(REPO / "recipes/grpo_outcome.yaml"),
        f"run.output_dir={out}",
        *RL_TINY,
        f"model.path={tiny_model_dir}",
        *overrides,
    ]
    assert main(argv) == 2
    assert needle in _one_line_error(capsys)
    assert not out.exists()  # nothing half-written


def test_sft_recipe_with_missing_dataset(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        str(REPO / "recipes/sft_warmstart.yaml"),
        f"run.output_dir={out}",
        "sft.generate=null",
        "sft.train_path=/nonexistent/train.jsonl",
    ]
    assert main(argv) == 2
    assert "not found" in _one_line_error(capsys)
    assert not out.exists()


def test_output_dir_holding_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 0}\n')
    argv = ["train", str(REPO / "recipes/grpo_outcome.yaml"), f"run.output_dir={out}", *RL_TINY]
    assert main(argv) == 2
    assert "already holds a run" in _one_line_error(capsys)
    assert (out / "metrics.jsonl").read_text() == '{"step": 0}\n'  # untouched
