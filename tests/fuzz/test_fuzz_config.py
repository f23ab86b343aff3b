"""Random and adversarial recipes never crash the loader: a value or a ConfigError, nothing else."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlhf.config.loader import ConfigError, apply_overrides, from_dict, read_yaml
from rlhf.config.recipe import RunConfig

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
known_keys = st.sampled_from(
    ["trainer", "run", "model", "lora", "tiny", "rewards", "seed", "r", "path", "enabled"]
)
recipes = st.dictionaries(st.one_of(known_keys, st.text(max_size=8)), values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipes)
def test_from_dict_value_or_config_error(data):
    try:
        cfg = from_dict(RunConfig, data)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(cfg, RunConfig)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=string.printable, max_size=30), max_size=5))
def test_overrides_value_or_config_error(items):
    base = {"trainer": "grpo", "lora": {"r": 4}}
    try:
        out = apply_overrides(base, items)
    except ConfigError as exc:
        assert str(exc)
        return
    try:
        from_dict(RunConfig, out)
    except ConfigError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_arbitrary_yaml_text(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        data = read_yaml(p)
        from_dict(RunConfig, data)
    except ConfigError as exc:
        assert str(exc)
