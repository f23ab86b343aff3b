"""A setting the chosen trainer does not read is an error at load time, in the YAML or on the
command line, naming the trainer and the key; the shipped recipes and the trainers' shared
`train:` knobs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf.config.loader import ConfigError, from_dict
from rlhf.config.recipe import RunConfig
from rlhf.trainers import TRAINERS
from rlhf.trainers.checks import check_recipe, load_recipe, trainer_reads

REPO = Path(__file__).resolve().parents[3]
RECIPE = {
    "sft": "sft_warmstart",
    "prm": "prm_train",
    "distill": "distill",
    "grpo": "grpo_outcome",
    "ppo": "ppo_process",
}


@pytest.mark.parametrize(
    "trainer, override, needle",
    [
        ("sft", "train.steps=10", "'train.steps', which the recipe sets; did you mean 'sft.max_steps'?"),
        ("sft", "algo.kl_coef=0.1", "does not read the 'algo' section"),
        ("sft", "rollout.n=2", "does not read the 'rollout' section"),
        ("prm", "train.steps=10", "did you mean 'prm.epochs'?"),
        ("prm", "sft.max_steps=3", "does not read the 'sft' section"),
        ("prm", "faults.sync_check_every=2", "does not read the 'faults' section"),
        (
            "distill",
            "sft.generate.task=finance",
            "'sft.generate', which the recipe sets; did you mean 'distill.generate'?",
        ),
        ("distill", "rewards=[{name: math_answer}]", "does not read the 'rewards' section"),
        ("distill", "data.prompts_per_step=3", "'data.prompts_per_step'"),
        ("grpo", "run.log_every=5", "'run.log_every'"),
        ("grpo", "train.value_lr=1e-3", "'train.value_lr'"),
        ("grpo", "prm.epochs=2", "does not read the 'prm' section"),
        ("ppo", "sft.max_steps=3", "does not read the 'sft' section"),
        ("ppo", "distill.heldout=3", "does not read the 'distill' section"),
    ],
)
def test_an_unread_override_is_an_error_naming_trainer_and_key(trainer, override, needle):
    with pytest.raises(ConfigError) as info:
        load_recipe(REPO / "recipes" / f"{RECIPE[trainer]}.yaml", [override])
    msg = str(info.value)
    assert msg.startswith(f"trainer {trainer!r} does not read ") and needle in msg, msg


def test_an_unread_section_in_the_yaml_is_an_error_too(tmp_path):
    r = tmp_path / "r.yaml"
    r.write_text((REPO / "recipes/sft_warmstart.yaml").read_text() + "rollout:\n  temperature: 0.5\n")
    with pytest.raises(ConfigError, match="trainer 'sft' does not read the 'rollout' section"):
        load_recipe(r)
    r.write_text((REPO / "recipes/grpo_outcome.yaml").read_text() + "sft:\n  max_steps: 5\n")
    with pytest.raises(ConfigError, match="trainer 'grpo' does not read the 'sft' section"):
        load_recipe(r)


@pytest.mark.parametrize("trainer", sorted(RECIPE))
def test_every_trainer_reads_the_shared_train_knobs(trainer):
    shared = [
        "train.lr=3e-4",
        "train.weight_decay=0.01",
        "train.max_grad_norm=0.5",
        "train.max_bad_steps=5",
        "train.lr_scheduler=linear",
        "train.warmup_steps=4",
        "train.warmup_ratio=0.0",
        "train.min_lr_ratio=0.0",
        "train.optimizer=adamw",
        "train.warmup_offset=1",
        "train.cpu_threads=1",
    ]
    cfg = load_recipe(REPO / "recipes" / f"{RECIPE[trainer]}.yaml", shared)
    assert (cfg.train.lr, cfg.train.max_grad_norm, cfg.train.max_bad_steps) == (3e-4, 0.5, 5)


def test_every_registered_trainer_declares_what_it_reads_and_every_recipe_loads():
    for name in TRAINERS.names():
        reads = trainer_reads(name)
        assert reads is not None and "model" in reads.sections, name
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        load_recipe(path)  # defaults never count as set; each shipped recipe sets only what its trainer reads


def test_defaults_and_a_mapping_without_raw_settings_pass():
    cfg = from_dict(RunConfig, {"trainer": "sft"})
    assert check_recipe(cfg, {"trainer": "sft"}) is cfg
    assert check_recipe(cfg) is cfg  # no raw mapping: nothing to compare
    with pytest.raises(ConfigError, match="'rewards' section"):
        check_recipe(cfg, {"trainer": "sft", "rewards": []})  # set explicitly, even to its default
