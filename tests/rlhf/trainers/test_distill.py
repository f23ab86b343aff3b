"""Distillation: rejection sampling keeps only verified traces; the run refuses what it cannot use."""

from __future__ import annotations

import pytest

from data_gen.render import gold_completion
from rlhf.config import loader as config
from rlhf.config.recipe import RunConfig
from rlhf.eval.evaluator import generated_problems
from rlhf.runtime.rundir import prepare_run_dir
from rlhf.trainers.distill import load_problems, run, select_traces


def test_select_keeps_distinct_verified_traces_per_problem():
    from rewards.math.verify import MathAnswerReward

    problems = generated_problems("integer_arithmetic", 3, "train")
    gold = [gold_completion(p) for p in problems]
    wrong = "<think>\n1 + 1 = 2\n</think>\n<answer>-12345</answer>"
    texts = [
        gold[0],
        gold[0],
        wrong,  # problem 0: one distinct correct trace (the duplicate is dropped)
        wrong,
        wrong,
        wrong,  # problem 1: none
        gold[2],
        gold[2] + " ",
        gold[2].replace("<think>\n", "<think>\nok\n"),
    ]  # problem 2: two distinct
    flat = [p for p in problems for _ in range(3)]
    ok = [s is not None and s >= 0.5 for s in MathAnswerReward()(flat, texts)]
    rows = select_traces(problems, texts, ok, per_problem=3, keep=2)
    assert [r["id"] for r in rows] == [problems[0].id, problems[2].id, problems[2].id]
    assert all(r["completion"] != wrong for r in rows)
    assert rows[0]["prompt"][-1]["content"] == problems[0].prompt and rows[0]["answer"] == problems[0].answer
    assert len(select_traces(problems, texts, ok, per_problem=3, keep=1)) == 2


def _cfg(repo_root, tmp_path, *overrides):
    return config.load(
        RunConfig,
        repo_root / "recipes" / "distill.yaml",
        [
            f"run.output_dir={tmp_path / 'run'}",
            "distill.generate.n=4",
            "distill.heldout=2",
            "distill.samples_per_problem=2",
            "distill.max_new_tokens=8",
            "sft.max_steps=1",
            *overrides,
        ],
    )


def test_recipe_loads_and_generates_disjoint_problems(repo_root, tmp_path):
    cfg = _cfg(repo_root, tmp_path)
    train, held = load_problems(cfg)
    assert len(train) == 4 and len(held) == 2
    assert not {p.prompt for p in train} & {p.prompt for p in held}


def test_random_teacher_solving_nothing_is_refused(repo_root, tmp_path, tiny_model_dir):
    cfg = _cfg(repo_root, tmp_path, f"distill.teacher={tiny_model_dir}")
    run_dir = prepare_run_dir(cfg, cfg.run.output_dir)
    with pytest.raises(ValueError, match="solved none"):
        run(cfg, run_dir)
    assert not (run_dir.root / "model").exists()


@pytest.mark.parametrize(
    "override, needle",
    [
        ("distill.verifier=no_such_reward", "unknown reward"),
        ("distill.teacher=/nonexistent/teacher", "checkpoint not found"),
    ],
)
def test_bad_teacher_or_verifier(repo_root, tmp_path, tiny_model_dir, override, needle):
    cfg = _cfg(repo_root, tmp_path, f"distill.teacher={tiny_model_dir}", override)
    with pytest.raises((ValueError, FileNotFoundError), match=needle):
        run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))


# ----------------------------------------------------------------------------- the shared runtime (through sft)


def _distill(repo_root, tmp_path, name, teacher, *overrides, resume: bool = False) -> dict:
    cfg = config.load(
        RunConfig,
        repo_root / "recipes" / "distill.yaml",
        [
            f"run.output_dir={tmp_path / name}",
            f"distill.teacher={teacher}",
            "distill.verifier=tests.e2e.helpers:accept_all",
            "distill.require_correct_steps=false",
            "distill.generate.n=4",
            "distill.heldout=0",
            "distill.samples_per_problem=2",
            "distill.keep_per_problem=2",
            "distill.max_new_tokens=8",
            f"model.path={teacher}",
            "sft.batch_size=4",
            "sft.eval_max_items=0",
            "sft.max_steps=2",
            "train.cpu_threads=1",
            *overrides,
        ],
    )
    return run(cfg, prepare_run_dir(cfg, cfg.run.output_dir, resume=resume))


@pytest.mark.slow
def test_max_grad_norm_is_honoured(repo_root, tmp_path, tiny_model_dir):
    from tests.rlhf.trainers.runtime_helpers import same_weights, weights

    for name, norm in (("off", 0.0), ("huge", 1e9), ("tiny", 1e-7)):
        _distill(repo_root, tmp_path, name, tiny_model_dir, f"train.max_grad_norm={norm}")
    off, huge, tiny = (weights(tmp_path / n / "model") for n in ("off", "huge", "tiny"))
    assert same_weights(off, huge) and not same_weights(off, tiny)


def test_a_non_finite_student_loss_stops_after_max_bad_steps(
    repo_root, tmp_path, tiny_model_dir, nan_model_dir
):
    from rlhf.runtime.optim import RunStopped

    with pytest.raises(RunStopped, match=r"2 steps in a row had a non-finite loss \(train.max_bad_steps=2\)"):
        _distill(
            repo_root, tmp_path, "nan", tiny_model_dir, f"model.path={nan_model_dir}", "train.max_bad_steps=2"
        )
    assert (tmp_path / "nan" / "checkpoints" / "checkpoint-2").is_dir()


@pytest.mark.slow
def test_resume_continues_the_students_finetune(repo_root, tmp_path, tiny_model_dir):
    import shutil

    from tests.rlhf.trainers.runtime_helpers import same_weights, weights

    common = ("run.save_every=1", "run.keep_checkpoints=3", "sft.max_steps=3")
    _distill(repo_root, tmp_path, "full", tiny_model_dir, *common)
    _distill(repo_root, tmp_path, "cut", tiny_model_dir, *common)
    cut = tmp_path / "cut"
    shutil.rmtree(cut / "checkpoints" / "checkpoint-3")
    shutil.rmtree(cut / "model")
    result = _distill(repo_root, tmp_path, "cut", tiny_model_dir, *common, resume=True)
    assert result["steps"] == 3
    assert same_weights(weights(tmp_path / "full" / "model"), weights(cut / "model"))
