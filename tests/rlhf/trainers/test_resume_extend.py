"""--resume with a changed recipe names the keys that differ; raising train.steps extends a run,
with its LR schedule stretched to the new total."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from rlhf.cli.main import main
from rlhf.runtime.optim import Schedule
from tests.rlhf.trainers.rl_helpers import recipe


def _metrics(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]


def test_resume_with_a_changed_recipe_names_each_key(tmp_path, capsys):
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    assert main(["train", str(r), "train.steps=1"]) == 0
    capsys.readouterr()
    assert main(["train", str(r), "--resume", "train.steps=1", "train.lr=2e-3", "rollout.n=2"]) == 2
    err = capsys.readouterr().err
    assert "train.lr: 0.001 -> 0.002" in err and "rollout.n: 4 -> 2" in err
    assert "only the step budget (train.steps, sft.max_steps) may change on --resume" in err
    assert (
        main(["train", str(r), "--resume", "train.steps=1", "train.lr=2e-3"]) == 2
    )  # still refused; the recorded recipe stays
    assert yaml.safe_load((tmp_path / "run" / "config.resolved.yaml").read_text())["train"]["lr"] == 1e-3


@pytest.mark.slow
def test_raising_train_steps_on_resume_extends_a_finished_run(tmp_path, capsys):
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    run = tmp_path / "run"
    assert main(["train", str(r), "train.steps=2"]) == 0
    first = _metrics(run)
    capsys.readouterr()
    assert main(["train", str(r), "train.steps=1", "--resume"]) == 2  # fewer steps: refused
    assert "train.steps: 2 -> 1" in capsys.readouterr().err

    assert main(["train", str(r), "train.steps=3", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "extends the run from train.steps=2 to 3" in err and "stretched" in err
    recs = _metrics(run)
    assert [m["step"] for m in recs] == [0, 1, 2]
    assert recs[:2] == first  # the finished steps are kept as they were
    # the third update's LR is where a 3-step schedule puts it (cosine's end: min_lr_ratio * lr),
    # not past the 2-step schedule's end, where the cosine would climb back up
    assert recs[2]["lr"] == pytest.approx(1e-3 * Schedule("cosine", 0, 3, 0.1)(3))
    assert Schedule("cosine", 0, 2, 0.1)(3) > 0.5
    assert yaml.safe_load((run / "config.resolved.yaml").read_text())["train"]["steps"] == 3
    assert main(["train", str(r), "train.steps=3", "--resume"]) == 0  # the new budget is now the recipe


SFT_TINY = [
    "sft.generate.n=24",
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=1",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=320",
    "sft.batch_size=4",
    "sft.eval_max_items=2",
    "sft.eval_max_new_tokens=4",
    "sft.eval_every=0",
    "run.device=cpu",
    "run.log_every=1",
]


@pytest.mark.slow
def test_raising_sft_max_steps_on_resume_extends_a_finished_sft_run(tmp_path, repo_root, capsys):
    from safetensors.torch import load_file

    run = tmp_path / "sft"
    argv = ["train", str(repo_root / "recipes/sft_warmstart.yaml"), f"run.output_dir={run}", *SFT_TINY]
    assert main([*argv, "sft.max_steps=2"]) == 0
    assert (run / "checkpoints" / "checkpoint-2").is_dir()  # run.save_every 0: one checkpoint, at the end
    first = load_file(str(run / "model" / "model.safetensors"))
    capsys.readouterr()
    assert main([*argv, "sft.max_steps=1", "--resume"]) == 2  # fewer steps: refused, naming the key
    assert "sft.max_steps: 2 -> 1" in capsys.readouterr().err

    assert main([*argv, "sft.max_steps=4", "--resume"]) == 0
    out = capsys.readouterr()
    assert "extends the run from sft.max_steps=2 to 4" in out.err
    assert json.loads(out.out.strip().splitlines()[-1])["steps"] == 4
    trained = [m for m in _metrics(run) if "loss" in m]
    assert [m["step"] for m in trained] == [1, 2, 3, 4]  # steps 1-2 kept, 3-4 trained on from the checkpoint
    # the LR logged at step k is the schedule's value at update k-1: steps 1-2 kept the 2-step curve;
    # step 4 sits on the 4-step cosine, not past the 2-step one's end, where it would climb back up
    lrs = [m["learning_rate"] for m in trained]
    assert lrs[:2] == pytest.approx([2e-3 * Schedule("cosine", 0, 2, 0.0)(s) for s in (0, 1)])
    assert lrs[3] == pytest.approx(2e-3 * Schedule("cosine", 0, 4, 0.0)(3))
    assert Schedule("cosine", 0, 2, 0.0)(3) > 3 * Schedule("cosine", 0, 4, 0.0)(3)
    last = load_file(str(run / "model" / "model.safetensors"))
    assert any(not torch.equal(first[k], last[k]) for k in first)  # the model saved is the extended one
    assert yaml.safe_load((run / "config.resolved.yaml").read_text())["sft"]["max_steps"] == 4
