"""`python -m rlhf.demo.domain --quick`: the domain flow in a subprocess (a generated domain and a
user's own file), the report's contract, and bad settings refused in one line before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vet_domain.jsonl"
KEYS = (
    "domain_accuracy_base",
    "domain_accuracy_sft",
    "domain_accuracy_grpo",
    "general_accuracy_base",
    "general_accuracy_final",
    "wall_s",
    "mix_sweep",
)


def _question(line: str) -> str:
    row = json.loads(line)
    return row.get("prompt") or row["question"]  # generated items, or a user's question/answer rows


def _run(repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(repo_root), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run(
        [sys.executable, "-m", "rlhf.demo.domain", "--quick", *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.parametrize(  # the runs in 2 worker processes, and in this one
    "source", [["--domain", "dosage", "--set", "jobs=2"], ["--domain-file", str(FIXTURE), "--set", "jobs=1"]]
)
def test_domain_demo_quick_writes_the_report(tmp_path, repo_root, source):
    out = tmp_path / "demo_domain"
    proc = _run(repo_root, "--out", str(out), *source)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    for key in KEYS:
        assert key in report, key
    assert set(report["wall_s"]) >= {
        "general",
        "data",
        "sft",
        "grpo",
        "export",
        "eval_final",
        "sweep",
        "total",
    }
    assert [p["domain_share"] for p in report["mix_sweep"]] == [0.3, 0.5]  # quick: main share + one more
    assert all(p["wall_s"] > 0 for p in report["mix_sweep"])
    assert (out / "sweep" / "share_0.3" / "adapter").is_dir()
    assert (out / "exported" / "config.json").is_file() and not list((out / "exported").glob("adapter_*"))
    grpo = report["grpo"]  # quick: two lrs, the one better on validation kept
    assert [c["lr"] for c in grpo["lr_search"]] == [5e-4, 1e-4] and grpo["kl_coef"] == 0.1
    best = max(grpo["lr_search"], key=lambda c: (c["val_accuracy"], -c["lr"]))
    assert grpo["lr"] == best["lr"] and grpo["run"] == best["run"] == f"grpo_lr/{best['lr']:g}"
    records = [json.loads(line) for line in (out / grpo["run"] / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in records if r.get("kl") is not None)
    assert abs(first["kl"]) < 1e-6  # the reference is the SFT model
    for plot in report["plots"]:
        assert (out / plot).stat().st_size > 0
    held = [_question(line) for line in (out / "data" / "heldout.jsonl").read_text().splitlines()]
    train = {_question(line) for line in (out / "data" / "train.jsonl").read_text().splitlines()}
    assert held and not train & set(held)
    assert "domain held-out" in (out / "report.md").read_text()
    cfg = (out / grpo["run"] / "config.resolved.yaml").read_text()
    if "--domain-file" in source:  # a user's file: GRPO prompts are its SFT rows
        assert report["data"]["rl"] == report["data"]["train"]
    else:  # generated: GRPO prompts are train-split items never in SFT nor in validation
        rl = [_question(line) for line in (out / "data" / "rl.jsonl").read_text().splitlines()]
        val = {_question(line) for line in (out / "data" / "val.jsonl").read_text().splitlines()}
        assert len(rl) == 8 and not set(rl) & (train | val | set(held))
        assert "rl.jsonl" in cfg


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--set", "domain_share=1.5"], "domain_share: a domain share must be in (0, 1], got 1.5"),
        (["--set", "sweep_shares=[0.3, 0]"], "sweep_shares: a domain share must be in (0, 1], got 0"),
        (["--domain", "law"], "--domain 'law' is not one of"),
        (["--set", "verifier=nope"], "verifier 'nope' is not a registered answer verifier"),
        (["--set", "grpo_lrs=[]"], "grpo_lrs must be a non-empty list of positive numbers, got '[]'"),
        (["--set", "grpo_kl=-1"], "grpo_kl must be a number >= 0, got -1"),
        (["--set", "jobs=-2"], "jobs must be a whole number >= 0 (0: one per core), got -2"),
        (["--set", "n_rl=-1"], "n_rl must be a whole number >= 0 (0: GRPO on the SFT items), got -1"),
    ],
)
def test_bad_settings_fail_in_one_line_and_write_nothing(tmp_path, repo_root, args, said):
    out = tmp_path / "never"
    proc = _run(repo_root, "--out", str(out), *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], proc.stderr
    assert not out.exists()


def test_a_domain_file_with_missing_answers_names_row_and_file(tmp_path, repo_root):
    rows = FIXTURE.read_text().splitlines()
    rows[4] = json.dumps({"question": "How many mg?"})
    bad = tmp_path / "mine.jsonl"
    bad.write_text("\n".join(rows) + "\n")
    proc = _run(repo_root, "--out", str(tmp_path / "o"), "--domain-file", str(bad))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and f"{bad}: row 5 of 40: missing 'answer'" in lines[0], (
        proc.stderr
    )
    assert not (tmp_path / "o").exists()
