from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from rlhf.config import loader as config
from rlhf.config.loader import ConfigError, apply_overrides, from_dict, load, save_resolved
from rlhf.config.recipe import RunConfig


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    steps: int = 10
    name: str = "x"
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    maybe: int | None = None
    modules: tuple[str, ...] = ("q",)


@dataclass(frozen=True)
class Outer:
    required: str
    inner: Inner = field(default_factory=Inner)


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_loads_nested_and_defaults(tmp_path):
    cfg = load(Outer, write(tmp_path, "required: hi\ninner:\n  lr: 1e-5\n  modules: [a, b]\n"))
    assert cfg.required == "hi"
    assert cfg.inner.lr == pytest.approx(1e-5)  # YAML reads 1e-5 as a string; coerced
    assert cfg.inner.modules == ("a", "b")
    assert cfg.inner.steps == 10


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="recipe file not found"):
        load(Outer, tmp_path / "nope.yaml")


def test_invalid_yaml_reports_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line 4, column"):
        load(Outer, write(tmp_path, "required: hi\ninner:\n  lr: [1, 2\n  steps: 3\n"))


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load(Outer, write(tmp_path, "- a\n- b\n"))


def test_unknown_key_names_path_and_suggests(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(Outer, write(tmp_path, "required: hi\ninner:\n  stpes: 3\n"))
    msg = str(info.value)
    assert "inner.stpes" in msg and "did you mean 'inner.steps'" in msg


def test_an_optional_section_given_a_mapping_reports_the_bad_value_inside():
    """`sft.generate` is `SftGenerateSpec | None`: a mapping with a bad value names that value
    (it used to say only "expected SftGenerateSpec or null"); a non-mapping keeps the type error."""
    from rlhf.config.loader import from_dict
    from rlhf.config.supervised import SftSection

    with pytest.raises(ConfigError, match="sft.generate.n must be positive, got 0"):
        from_dict(SftSection, {"generate": {"task": "integer_arithmetic", "n": 0}}, "sft")
    with pytest.raises(ConfigError, match=r"sft.generate: expected SftGenerateSpec or null, got int 5"):
        from_dict(SftSection, {"generate": 5}, "sft")


def test_wrong_type_names_key_expected_and_value(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(Outer, write(tmp_path, "required: hi\ninner:\n  steps: many\n"))
    msg = str(info.value)
    assert "inner.steps" in msg and "expected int" in msg and "'many'" in msg
    with pytest.raises(ConfigError, match="inner.flag: expected bool"):
        load(Outer, write(tmp_path, "required: hi\ninner:\n  flag: 1\n"))
    with pytest.raises(ConfigError, match=r"inner.modules\[1\]: expected str"):
        load(Outer, write(tmp_path, "required: hi\ninner:\n  modules: [a, 3]\n"))
    with pytest.raises(ConfigError, match="inner.mode: 'c' is not one of"):
        load(Outer, write(tmp_path, "required: hi\ninner:\n  mode: c\n"))
    with pytest.raises(ConfigError, match="inner.maybe: expected int or null"):
        load(Outer, write(tmp_path, "required: hi\ninner:\n  maybe: x\n"))


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'required'"):
        load(Outer, write(tmp_path, "inner: {}\n"))


def test_dotted_overrides(tmp_path):
    p = write(tmp_path, "required: hi\n")
    cfg = load(Outer, p, ["inner.lr=2e-5", "inner.steps=7", "inner.modules=[k, v]", "required=yo"])
    assert cfg.inner.lr == pytest.approx(2e-5)
    assert cfg.inner.steps == 7 and cfg.inner.modules == ("k", "v") and cfg.required == "yo"
    with pytest.raises(ConfigError, match="inner.stepz"):
        load(Outer, p, ["inner.stepz=3"])
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        apply_overrides({}, ["nonsense"])
    with pytest.raises(ConfigError, match="required is not a mapping"):
        apply_overrides({"required": "hi"}, ["required.x=1"])


def test_overrides_do_not_mutate_input():
    data = {"a": {"b": 1}}
    apply_overrides(data, ["a.b=2"])
    assert data == {"a": {"b": 1}}


def test_post_init_error_becomes_config_error():
    with pytest.raises(ConfigError, match="lora.r must be positive"):
        from_dict(RunConfig, {"trainer": "grpo", "lora": {"enabled": True, "r": 0}})


def test_resolved_config_round_trips(tmp_path):
    cfg = from_dict(RunConfig, {"trainer": "grpo", "lora": {"enabled": True, "target_modules": ["q_proj"]}})
    out = save_resolved(cfg, tmp_path / "run" / "config.resolved.yaml")
    again = from_dict(RunConfig, yaml.safe_load(out.read_text()))
    assert again == cfg
    assert not list(out.parent.glob(".*.tmp")), "temp file left behind"


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    config.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(config.os, "replace", boom)
    with pytest.raises(OSError):
        config.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_moved_keys_say_where_they_live_now(tmp_path):
    with pytest.raises(ConfigError) as info:
        from_dict(RunConfig, {"trainer": "sft", "sft": {"lr": 1e-3, "max_grad_norm": 0.5, "max_steps": 3}})
    assert str(info.value) == "sft.lr moved to train.lr; sft.max_grad_norm moved to train.max_grad_norm"
    for key, to in (
        ("lr_scheduler", "train.lr_scheduler"),
        ("warmup_ratio", "train.warmup_ratio"),
        ("weight_decay", "train.weight_decay"),
    ):
        with pytest.raises(ConfigError, match=f"^sft.{key} moved to {to}$"):
            from_dict(RunConfig, {"trainer": "sft", "sft": {key: 0}})
    for key in ("lr", "warmup_ratio", "weight_decay"):
        with pytest.raises(ConfigError, match=f"^prm.{key} moved to train.{key}$"):
            load(RunConfig, write(tmp_path, "trainer: prm\n"), [f"prm.{key}=0.1"])  # an override too
