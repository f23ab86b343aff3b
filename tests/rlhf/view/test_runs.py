"""What `cotrl view` reads: which directories are runs, logs read from an offset, limits, evaluations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlhf.view import runs as rv


def _run(path, metrics=(), config="trainer: grpo\n"):
    path.mkdir(parents=True)
    (path / "config.resolved.yaml").write_text(config)
    (path / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return path


def test_a_directory_of_runs_stands_for_them_and_brings_its_checkpoint_curve(tmp_path):
    demo = tmp_path / "demo"
    _run(demo / "grpo")
    _run(demo / "sft")
    (demo / "data").mkdir()
    (demo / "report.json").write_text(
        json.dumps({"heldout_curve": [{"step": 0, "accuracy": 0.3, "step_accuracy": 0.5}]})
    )
    runs = rv.find_runs([str(demo)])
    assert [r.name for r in runs] == ["grpo", "sft"]
    assert rv.evaluations(runs[0])["curves"][0]["points"][0]["accuracy"] == 0.3


def test_same_names_are_told_apart_and_a_run_given_twice_is_shown_once(tmp_path):
    a, b = _run(tmp_path / "outcome" / "run"), _run(tmp_path / "process" / "run")
    runs = rv.find_runs([str(a), str(b), str(a)])
    assert [r.name for r in runs] == ["run", "process/run"]


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_path_that_is_not_a_run_is_refused_in_one_line(tmp_path, make):
    p = tmp_path / "x"
    if make == "empty":
        p.mkdir()
    elif make == "file":
        p.write_text("hi")
    with pytest.raises(ValueError, match=r"x(: no such directory| is not a run directory)") as err:
        rv.find_runs([str(p)])
    assert "\n" not in str(err.value)


def test_cli_refuses_a_non_run_with_exit_2_and_one_line(tmp_path, repo_root):
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf.cli.main", "view", str(tmp_path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"cotrl view: error: {tmp_path} is not a run directory (none of config.resolved.yaml, "
        "metrics.jsonl, samples.jsonl in it or in a sub-directory)"
    ]


def test_logs_are_read_from_an_offset_and_a_half_written_line_waits(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 0, "a": 1}\n{"step": 1, "a"')
    recs, off, ident = rv.read_jsonl(path, 0)
    assert recs == [{"step": 0, "a": 1}] and off == len('{"step": 0, "a": 1}\n')
    with path.open("a") as fh:
        fh.write(': 2}\n{"step": 2}\n')
    recs, off2, same = rv.read_jsonl(path, off, ident)
    assert [r["step"] for r in recs] == [1, 2] and off2 == path.stat().st_size and same == ident
    path.write_text('{"step": 0}\n')  # truncated in place: start over
    recs, off3, _ = rv.read_jsonl(path, off2, ident)
    assert recs == [{"step": 0}] and off3 == path.stat().st_size


def test_a_log_rewritten_by_a_resume_is_read_again_from_the_start(tmp_path):
    from data_gen.writers import atomic_write_text

    path = tmp_path / "m.jsonl"
    path.write_text("".join(f'{{"step": {s}}}\n' for s in range(3)))
    _, off, ident = rv.read_jsonl(path, 0)
    # the resume keeps steps 0-1 (a new file), and the run appends steps 2-5 before the next poll
    atomic_write_text(path, "".join(f'{{"step": {s}}}\n' for s in range(6)))
    recs, _, now = rv.read_jsonl(path, off, ident)
    assert now != ident and [r["step"] for r in recs] == list(range(6))


def test_thresholds_come_from_the_recipe(tmp_path):
    cfg = {
        "train": {"max_grad_norm": 0.5, "max_bad_steps": 4},
        "faults": {"reward_fail_frac": 0.4},
        "vllm": {"probe_tolerance": 0.02},
    }
    t = rv.thresholds(cfg)
    assert t["grad_norm"]["value"] == 0.5
    assert "4 steps in a row" in t["skipped_updates"]["label"]
    assert t["reward_fault_frac"]["value"] == 0.4
    assert t["sync_probe_max_abs_diff"]["value"] == 0.02
    assert "grad_norm" not in rv.thresholds({"train": {"max_grad_norm": 0}})  # clipping off: no line


def test_eval_results_in_the_run_are_listed(tmp_path):
    run = _run(tmp_path / "r")
    (run / "eval.json").write_text(json.dumps({"accuracy": 0.4, "step_accuracy": 0.6, "n_problems": 50}))
    (run / "data_stats.json").write_text(json.dumps({"n": 3}))
    (run / "plots").mkdir()
    (run / "plots" / "training_curves.png").write_bytes(b"\x89PNG")
    [r] = rv.find_runs([str(run)])
    assert rv.evaluations(r)["tables"] == [
        {
            "file": "eval.json",
            "accuracy": 0.4,
            "step_accuracy": 0.6,
            "format_rate": None,
            "n_problems": 50,
            "unverifiable": None,
        }
    ]
    assert rv.plots(r) == ["plots/training_curves.png"]


def test_only_files_inside_the_run_are_found(tmp_path):
    run = _run(tmp_path / "r")
    (tmp_path / "secret.txt").write_text("no")
    (run / "link").symlink_to(tmp_path / "secret.txt")
    [r] = rv.find_runs([str(run)])
    assert rv.safe_file(r, "metrics.jsonl") == run.resolve() / "metrics.jsonl"
    for bad in ("../secret.txt", "../../etc/passwd", "/etc/passwd", "link", "", ".", "plots", "a\x00b"):
        assert rv.safe_file(r, bad) is None, bad
