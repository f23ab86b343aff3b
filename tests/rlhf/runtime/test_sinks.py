"""`run.report_to`: the trackers every trainer reports to, tested with real runs and real event files."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from rlhf.cli.main import main
from rlhf.runtime.sinks import SINKS, Sinks, check_sinks

RECIPES = ("grpo_outcome", "ppo_process", "sft_warmstart", "prm_train", "distill")
MISSING = [n for n, (module, _) in SINKS.items() if importlib.util.find_spec(module) is None]


def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_is_in_the_pinned_environment():
    check_sinks(("tensorboard",))  # raises if the lock lost it


def test_an_unknown_sink_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"run.report_to: unknown sink 'tensorbord'; valid: tensorboard, trackio"
    ):
        check_sinks(("tensorbord",))


@pytest.mark.skipif(not MISSING, reason="every tracker is installed here")
@pytest.mark.parametrize("recipe", RECIPES)
def test_every_trainer_refuses_a_missing_sink_in_the_same_line(recipe, repo_root, tmp_path, capsys):
    sink = MISSING[0]
    rc = main(
        [
            "train",
            str(repo_root / "recipes" / f"{recipe}.yaml"),
            f"run.report_to=[{sink}]",
            f"run.output_dir={tmp_path / 'run'}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == [
        f"cotrl train: error: run.report_to: {sink} is not installed (pip install {SINKS[sink][1]}, "
        f"or remove '{sink}' from run.report_to)"
    ]
    assert not (tmp_path / "run").exists()  # refused before a run directory was made


def test_sinks_skip_what_is_not_a_finite_number(tmp_path):
    sinks = Sinks(("tensorboard",), tmp_path)
    sinks.log(
        {"step": 3, "a": 1.5, "b": None, "c": float("nan"), "d": "text", "e": True, "hw/rss_mib": 200}, 3
    )
    sinks.close()
    assert _scalars(tmp_path / "tensorboard") == {"a": [(3, 1.5)], "hw/rss_mib": [(3, 200.0)]}


@pytest.mark.slow
def test_a_grpo_run_reports_rewards_step_rewards_and_hardware_to_tensorboard(tmp_path, repo_root):
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.rl import grpo
    from tests.rlhf.trainers.rl_helpers import recipe

    r = recipe(tmp_path, "grpo", "")
    text = r.read_text().replace(
        "  - name: tests.rlhf.trainers.rl_helpers:digit_share\n",
        "  - name: tests.rlhf.trainers.rl_helpers:digit_share\n  - name: tests.rlhf.trainers.rl_helpers:step_has_digit\n",
    )
    r.write_text(text.replace("  steps: 3\n", "  steps: 2\n"))
    cfg = config.load(RunConfig, r, ["run.report_to=[tensorboard]", "train.cpu_threads=1"])
    grpo.run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))
    tags = _scalars(tmp_path / "run" / "tensorboard")
    for key in (
        "reward_mean",
        "step_accuracy",
        "step_reward/step_has_digit/mean",
        "grad_norm",
        "hw/rss_mib",
        "hw/cpu_percent",
        "time_rollout",
    ):
        assert [s for s, _ in tags[key]] == [0, 1], key
    assert all(v > 10 for _, v in tags["hw/rss_mib"])  # a real process holds a model: tens of MiB at least


@pytest.mark.slow
def test_an_sft_run_reports_to_tensorboard_through_the_same_sinks(tmp_path, tiny_model_dir):
    from tests.rlhf.trainers.test_sft_trainer import ROWS, make_cfg, train

    data = tmp_path / "train.jsonl"
    import json

    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cfg = make_cfg(tmp_path / "run", tiny_model_dir, data)
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, report_to=("tensorboard",)))
    train(cfg)
    tags = _scalars(tmp_path / "run" / "tensorboard")
    assert [s for s, _ in tags["loss"]] == [1, 2, 3]
    assert [s for s, _ in tags["hw/rss_mib"]] == [1, 2, 3]
    assert "step_time" in tags
