"""Estimator metadata in the RL trainers: an estimator that does not suit the trainer or the
rewards fails when the recipe loads, before a run directory or a model exists, with an error
naming the keys to change; the step metrics split an estimator into its declared parts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from rlhf.algos import ADVANTAGES, masked_mean
from rlhf.cli.main import main
from rlhf.config.loader import ConfigError
from rlhf.config.recipe import AlgoSection
from rlhf.trainers.checks import check_estimator, load_recipe
from rlhf.trainers.rl.report import batch_metrics
from tests.rlhf.algos.test_estimator_info import random_batch
from tests.rlhf.trainers.rl_helpers import recipe

REPO = Path(__file__).resolve().parents[3]


def _load(tmp_path: Path, trainer: str, *overrides: str):
    return load_recipe(recipe(tmp_path, trainer), list(overrides))


def test_critic_estimator_under_grpo_names_the_key_and_the_trainer(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "grpo", "algo.advantage=gae")
    msg = str(err.value)
    assert "algo.advantage='gae'" in msg and "trainer: grpo" in msg and "use trainer: ppo" in msg
    assert "grpo" in msg.split("without a critic")[1]  # the alternatives come from the metadata
    assert _load(tmp_path, "ppo", "algo.advantage=gae").algo.advantage == "gae"


def test_ppo_refuses_an_estimator_that_leaves_its_critic_unread(tmp_path):
    with pytest.raises(
        ConfigError, match=r"trainer: ppo trains a critic that algo.advantage='rloo' never reads"
    ):
        _load(tmp_path, "ppo", "algo.advantage=rloo")
    with pytest.raises(ConfigError, match=r"reads critic values \(gae\)"):
        _load(tmp_path, "ppo")  # the default estimator, grpo


@pytest.mark.parametrize("advantage", ["process_grpo", "mixed"])
def test_step_estimator_needs_a_step_reward(tmp_path, advantage):
    with pytest.raises(
        ConfigError, match=rf"algo.advantage='{advantage}' reads step scores.*\(math_answer\)"
    ):
        _load(tmp_path, "grpo", f"algo.advantage={advantage}", "rewards=[{name: math_answer}]")
    ok = "rewards=[{name: math_answer}, {name: rule}]"
    assert _load(tmp_path, "grpo", f"algo.advantage={advantage}", ok).algo.advantage == advantage
    # user-code rewards may score steps (known once built), so they are not refused here
    assert _load(tmp_path, "grpo", f"algo.advantage={advantage}").algo.advantage == advantage


def test_kl_in_reward_needs_a_token_level_estimator(tmp_path):
    with pytest.raises(ConfigError, match=r"kl_in_reward needs a token-level advantage \(reinforce_pp, "):
        _load(tmp_path, "grpo", "algo.kl_in_reward=true", "algo.kl_coef=0.1")
    cfg = _load(tmp_path, "grpo", "algo.kl_in_reward=true", "algo.kl_coef=0.1", "algo.advantage=reinforce_pp")
    assert cfg.algo.kl_in_reward


def test_non_rl_trainers_skip_the_estimator_checks():
    from rlhf.config.loader import from_dict
    from rlhf.config.recipe import RunConfig

    # an sft recipe may not set algo: at all (an unread section, refused by check_recipe),
    # and the estimator checks themselves pass over every trainer that runs no estimator
    for trainer in ("sft", "prm", "distill"):
        check_estimator(from_dict(RunConfig, {"trainer": trainer, "algo": {"advantage": "gae"}}))


def test_user_code_is_checked_when_the_trainer_starts(tmp_path):
    described = "algo.advantage=tests.rlhf.trainers.rl_helpers:critic_residual"
    cfg = _load(tmp_path, "grpo", described)  # load time: user modules are not imported
    with pytest.raises(ConfigError, match="reads critic values, which trainer: grpo does not train"):
        check_estimator(cfg, import_user_code=True)  # what the RL setup runs before loading a model
    check_estimator(_load(tmp_path, "ppo", described), import_user_code=True)
    plain = _load(tmp_path, "grpo", "algo.advantage=tests.rlhf.trainers.rl_helpers:outcome_sign")
    check_estimator(plain, import_user_code=True)  # no estimator_info: nothing assumed, nothing refused


def test_every_shipped_rl_recipe_passes_the_checks():
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        cfg = load_recipe(path)
        check_estimator(cfg, import_user_code=True)


def test_cotrl_train_refuses_the_mismatch_before_a_run_directory_exists(tmp_path, capsys):
    r = recipe(tmp_path, "grpo", "algo:\n  advantage: gae\n")
    assert main(["train", str(r)]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("cotrl train: error:")]
    assert len(err) == 1 and "algo.advantage='gae'" in err[0] and "trainer: ppo" in err[0], err
    assert not (tmp_path / "run").exists()


def test_step_metrics_log_the_parts_the_metadata_declares():
    batch = random_batch()
    cfg = AlgoSection(advantage="mixed")
    adv = ADVANTAGES.get("mixed")(batch, cfg)
    out = batch_metrics(batch, adv, cfg, ADVANTAGES.info("mixed"))
    for key, part in (("adv_outcome_abs", "grpo"), ("adv_process_abs", "process_grpo")):
        expect = float(masked_mean(ADVANTAGES.get(part)(batch, cfg).abs(), batch.response_mask))
        assert out[key] == expect and expect > 0, key
    assert out["adv_abs_mean"] == float(masked_mean(adv.abs(), batch.response_mask))
    gae = AlgoSection(advantage="gae")
    plain = batch_metrics(batch, ADVANTAGES.get("gae")(batch, gae), gae, ADVANTAGES.info("gae"))
    assert "adv_abs_mean" in plain and not any(k in plain for k in ("adv_outcome_abs", "adv_process_abs"))
    no_steps = dataclasses.replace(batch, step_mask=torch.zeros_like(batch.step_mask))
    split = batch_metrics(no_steps, adv, cfg, ADVANTAGES.info("mixed"))
    assert "adv_outcome_abs" in split and "adv_process_abs" not in split  # a part logs what the batch holds
