"""The process-vs-outcome bench's validation-only tuning and its equal-time SFT baseline."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import process_arms  # noqa: E402
import process_tune  # noqa: E402

from rlhf.demo import pipeline as demo  # noqa: E402


def _result(name: str, acc: float, step_acc: float) -> dict:
    return {"name": name, "val": {"accuracy": acc, "step_accuracy": step_acc}}


def test_apply_maps_settings_and_algo_overrides():
    base = demo.DemoSettings()
    s, extra = process_tune.apply(base, {"grpo_lr": 3e-5, "kl_coef": 0.1, "group_size": 16})
    assert (s.grpo_lr, s.group_size, s.grpo_temperature) == (3e-5, 16, base.grpo_temperature)
    assert extra == ("algo.kl_coef=0.1",)
    assert process_tune.apply(base, {}) == (base, ())


def test_apply_rejects_an_unknown_key_by_name():
    with pytest.raises(ValueError, match="clip_high"):
        process_tune.apply(demo.DemoSettings(), {"grpo_lr": 1e-5, "clip_high": 0.28})


def test_choose_ranks_by_validation_accuracy_then_step_accuracy_then_order():
    rs = [_result("a", 0.10, 0.30), _result("b", 0.12, 0.20), _result("c", 0.12, 0.25)]
    assert process_tune.choose(rs) == 2
    tie = [_result("a", 0.12, 0.25), _result("b", 0.12, 0.25)]
    assert process_tune.choose(tie) == 0


def test_choose_refuses_a_result_with_a_test_split_curve():
    with pytest.raises(ValueError, match="validation-only"):
        process_tune.choose([_result("a", 0.1, 0.2), {"name": "b", "val": {}, "curve": []}])
    with pytest.raises(ValueError, match="no tuning results"):
        process_tune.choose([])


def test_tune_searches_round_two_around_the_round_one_winner():
    scores = {  # validation accuracy per candidate name; 3e-5 wins round 1, its KL 0.1 variant round 2
        "grpo_lr=0.0001": 0.05,
        "grpo_lr=5e-05": 0.08,
        "grpo_lr=3e-05": 0.11,
        "grpo_lr=1e-05": 0.09,
        "grpo_lr=3e-05,kl_coef=0.1": 0.13,
    }
    asked: list[list[str]] = []

    def run(cands):
        asked.append([process_tune.name(c) for c in cands])
        return [_result(process_tune.name(c), scores.get(process_tune.name(c), 0.0), 0.2) for c in cands]

    chosen, results = process_tune.tune(run, demo.DemoSettings(), seed=0)
    assert chosen == {"grpo_lr": 3e-5, "kl_coef": 0.1}
    assert asked[1] == [  # the round-1 winner is not rerun
        "grpo_lr=3e-05,kl_coef=0",
        "grpo_lr=3e-05,kl_coef=0.1",
        "grpo_lr=3e-05,grpo_temperature=1",
        "group_size=16,grpo_lr=3e-05,prompts_per_step=2",
    ]
    assert len(results) == 8 and sum(r["chosen"] for r in results) == 1


def test_sft_steps_for_fills_the_budget_at_the_median_step_time():
    assert process_arms.sft_steps_for(100.0, [5.0, 0.5, 0.4, 0.6]) == 200  # first (warm-up) left out
    assert process_arms.sft_steps_for(0.1, [1.0]) == 1
    with pytest.raises(ValueError, match="positive budget"):
        process_arms.sft_steps_for(0.0, [0.5, 0.5])


def test_gold_data_gives_the_supervised_stages_only_the_first_items(tmp_path):
    """`--gold N`: the SFT stages read the first N training items; validation and held-out files stay."""
    import bench_process_vs_outcome as bench

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"prompt": f"p{i}", "answer": str(i)}) + "\n" for i in range(10)))
    data = {"train": str(train), "val": "v.jsonl", "heldout": "h.jsonl", "n_train": 10}
    assert bench.gold_data(data, None) == data | {"n_gold": 10}
    gold = bench.gold_data(data, 3)
    rows = [json.loads(x) for x in Path(gold["train"]).read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["p0", "p1", "p2"] and gold["n_gold"] == 3
    assert (gold["val"], gold["heldout"]) == ("v.jsonl", "h.jsonl") and len(
        train.read_text().splitlines()
    ) == 10
    for bad in (0, 11):
        with pytest.raises(ValueError, match=f"--gold {bad}: must be between 1 and the 10"):
            bench.gold_data(data, bad)


@pytest.mark.slow
def test_run_tune_scores_the_validation_split_and_never_reads_the_test_split(tmp_path, tiny_model_dir):
    s = dataclasses.replace(demo.QUICK, grpo_steps=1, prompts_per_step=1, max_new_tokens=8)
    data = demo.make_data(s, tmp_path)
    data.pop("heldout")  # any use of the test split would fail with KeyError
    res = process_arms.run_tune(s, tmp_path, "x", ("algo.kl_coef=0.05",), 0, str(tiny_model_dir), data)
    assert res["val"]["step"] == 1 and 0.0 <= res["val"]["accuracy"] <= 1.0
    assert "curve" not in res and res["extra"] == ["algo.kl_coef=0.05"]
    assert res["kl_final"] is not None  # the KL term ran: the override reached the recipe
    kept = process_arms.run_tune(s, tmp_path, "x", ("algo.kl_coef=0.05",), 0, str(tiny_model_dir), data)
    assert json.dumps(kept) == json.dumps(res)  # recorded: the same inputs reuse the run (NaN-safe)


def test_weight_sweep_overrides_turn_the_outcome_arm_into_mixed_at_that_weight():
    import process_weight_sweep as sweep

    tuned = ("algo.kl_coef=0",)
    assert sweep.overrides(0.0, tuned) == tuned  # weight 0: the outcome arm's own overrides
    got = sweep.overrides(0.25, tuned)
    assert "algo.advantage=mixed" in got and "algo.process_weight=0.25" in got
    assert got[0].startswith("rewards=[{name: math_answer}, {name: rule") and got[-1] == "algo.kl_coef=0"


def test_result_command_records_the_arguments_without_this_checkout_s_path(monkeypatch):
    import common

    argv = ["bench/x.py", "--tuned-from", f"{common.ROOT}/bench/results/a b.json", "--jobs", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    assert common._command() == "python bench/x.py --tuned-from 'bench/results/a b.json' --jobs 2"


def test_converged_and_gold_are_refused_together_before_anything_runs(monkeypatch):
    """Each names a warm start of its own: asking for both stops at the argument check."""
    import bench_process_vs_outcome as bench

    def boom(*a, **k):
        raise AssertionError("nothing may run")

    monkeypatch.setattr(bench, "run_all", boom)
    with pytest.raises(SystemExit, match="--gold and --converged"):
        bench.main(["--gold", "300", "--converged"])


@pytest.mark.slow
def test_the_implicit_arm_runs_implicit_prm_in_the_rule_verifier_s_place(tmp_path, tiny_model_dir):
    """`process_implicit`: the chosen advantage with `implicit_prm` (from the SFT model) as the only
    step reward; it learns once per GRPO step, and no rule step check runs in its loop."""
    import bench_process_vs_outcome as bench

    from rlhf.runtime.metrics import read_metrics

    s = dataclasses.replace(demo.QUICK, grpo_steps=2, prompts_per_step=1, max_new_tokens=8, eval_every=1)
    data = demo.make_data(s, tmp_path)
    entry = bench.implicit_entry(str(tiny_model_dir), {"lr": 1e-3, "balance": True})
    assert "lr: 1.0e-03" in entry and "balance: true" in entry
    model = str(tiny_model_dir)
    res = process_arms.run_grpo(s, tmp_path, "mixed", 0, model, data, None, "process_implicit", (), entry)
    rows = read_metrics(tmp_path / "process_implicit_seed0" / "metrics.jsonl")
    updates = [m["step_reward/implicit_prm/updates"] for m in rows if "step_reward/implicit_prm/updates" in m]
    assert updates == [1.0, 2.0]
    assert not any(k.startswith("step_reward/rule") for m in rows for k in m)
    assert res["arm"] == "process_implicit" and res["val_accuracy"] is None  # an arm: scored on held-out only


def test_step_auroc_ranks_loop_scores_against_the_rule_verdict(tmp_path):
    """1.0 when the loop's scores put every right step above every wrong one, 0.0 when reversed,
    None without scores; only the run's second half counts."""
    problem = {
        "id": "p0",
        "task": "integer_arithmetic",
        "prompt": "Compute 1 - 6 + 5.",
        "answer": "0",
        "solution_steps": ["Subtract: 1 - 6 + 5 = -5 + 5", "Add: -5 + 5 = 0"],
        "meta": {"expression": "1 - 6 + 5", "step_check": "equal"},
    }
    problems = tmp_path / "train.jsonl"
    problems.write_text(json.dumps(problem) + "\n")

    def run(name: str, right: float | None, wrong: float | None, early: float | None = None) -> Path:
        rows = []
        for step in (0, 1, 2, 3):
            r, w = (right, wrong) if step >= 2 else (early, early)
            steps = [
                {"text": "Subtract: 1 - 6 + 5 = -5 + 5", "score": r},
                {"text": "Add: -5 + 5 = 1", "score": w},
            ]
            rows.append({"step": step, "problem_id": "p0", "steps": steps})
        d = tmp_path / name
        d.mkdir()
        (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return d

    assert process_arms.step_auroc(run("good", 0.9, 0.1, early=0.0), str(problems)) == 1.0
    assert process_arms.step_auroc(run("reversed", 0.1, 0.9), str(problems)) == 0.0
    assert process_arms.step_auroc(run("flat", 0.5, 0.5), str(problems)) == 0.5
    assert process_arms.step_auroc(run("none", None, None), str(problems)) is None
    assert process_arms.step_auroc(tmp_path / "missing", str(problems)) is None
