"""Settings that cannot learn are refused or warned about: a group of one under a group-relative
estimator (load-time error), a reward that is None for a whole batch (a warning with the reason).
The reason itself: tests/rewards/test_none_reason.py; `cotrl gen` formats: tests/data_gen."""

from __future__ import annotations

import json

import pytest

from rlhf.algos import ADVANTAGES
from rlhf.cli.main import main
from rlhf.config.loader import ConfigError
from rlhf.trainers.checks import load_recipe
from tests.rlhf.trainers.rl_helpers import recipe


@pytest.mark.parametrize("advantage", ["grpo", "dr_grpo", "rloo"])
def test_a_group_of_one_under_a_group_relative_estimator_is_refused(tmp_path, advantage):
    with pytest.raises(ConfigError) as err:
        load_recipe(recipe(tmp_path), ["rollout.n=1", f"algo.advantage={advantage}"])
    msg = str(err.value)
    assert f"rollout.n=1 with algo.advantage={advantage!r}" in msg and "rollout.n >= 2" in msg
    assert "reinforce_pp" in msg.split("another baseline")[1]  # alternatives from the metadata
    assert not ADVANTAGES.info("reinforce_pp").needs_group
    assert load_recipe(recipe(tmp_path), ["rollout.n=1", "algo.advantage=reinforce_pp"]).rollout.n == 1


def test_the_rl_loop_warns_once_with_the_reason_when_a_reward_is_none_for_the_whole_batch(tmp_path, capsys):
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    r.write_text(r.read_text().replace("rl_helpers:digit_share", "rl_helpers:none_reward"))
    assert main(["train", str(r), "train.steps=2"]) == 0
    err = capsys.readouterr().err
    expected = (
        "cotrl: warning: step 0: all rewards unverifiable (reward 'none_reward': it returned None for "
        "all 8 completions); the update is skipped"
    )
    assert expected in err and err.count("all rewards unverifiable") == 1  # once, not every step
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in recs] == ["all rewards unverifiable"] * 2  # the field stays stable
    assert recs[0]["skipped_why"] == "reward 'none_reward': it returned None for all 8 completions"
