"""`python -m rlhf.demo --quick`: the whole pipeline in a subprocess, with the report's contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_quick_writes_the_report(tmp_path, repo_root):
    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=str(repo_root), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf.demo.pipeline", "--quick", "--out", str(out)],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    for key in (
        "accuracy_before",
        "accuracy_after",
        "step_accuracy_before",
        "step_accuracy_after",
        "wall_s",
        "heldout_curve",
        "eval_before",
        "eval_after",
    ):
        assert key in report, key
    assert set(report["wall_s"]) >= {"data", "sft", "eval_before", "grpo", "eval_after", "report", "total"}
    assert [c["step"] for c in report["heldout_curve"]] == [0, 1, 2]  # SFT model, then each GRPO checkpoint
    assert (out / "sft" / "config.resolved.yaml").is_file() and (
        out / "grpo" / "config.resolved.yaml"
    ).is_file()
    for plot in report["plots"]:
        assert (out / plot).stat().st_size > 0
    assert "grpo_curves.png" in " ".join(report["plots"]) and "heldout_accuracy.png" in " ".join(
        report["plots"]
    )
    # the demo ends with the `cotrl view` command for its runs, and that command finds them
    from rlhf.view.runs import evaluations, find_runs

    assert f"cotrlview{out}" in "".join(proc.stdout.split())  # rich may wrap a long path
    runs = find_runs([str(out)])
    assert [r.name for r in runs] == ["grpo", "sft"]
    assert [p["step"] for p in evaluations(runs[0])["curves"][0]["points"]] == [0, 1, 2]
    md = (out / "report.md").read_text()
    assert "accuracy" in md and "![heldout_accuracy]" in md
    # the data sets are disjoint (test split vs train split)
    train = {json.loads(x)["prompt"] for x in (out / "data" / "train.jsonl").read_text().splitlines()}
    held = {json.loads(x)["prompt"] for x in (out / "data" / "heldout.jsonl").read_text().splitlines()}
    assert train and held and not train & held


def test_demo_rejects_unknown_setting(tmp_path):
    from rlhf.demo.pipeline import main

    with pytest.raises(SystemExit, match="unknown setting"):
        main(["--quick", "--out", str(tmp_path / "d"), "--set", "no_such=1"])


def test_demo_refuses_an_out_dir_that_is_not_a_demo(tmp_path, repo_root):
    import subprocess
    import sys

    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("do not delete")
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf.demo.pipeline", "--quick", "--out", str(keep)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "does not hold a previous demo run" in proc.stderr and "Traceback" not in proc.stderr
    assert (keep / "notes.txt").read_text() == "do not delete"
