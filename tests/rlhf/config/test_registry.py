import pytest

from rewards.registry import Registry, load_object


def test_register_and_get():
    reg: Registry = Registry("widget")

    @reg.register("a")
    def a():
        return 1

    reg.register("b", lambda: 2)
    assert reg.get("a") is a
    assert reg.get("b")() == 2
    assert reg.names() == ["a", "b"]
    assert "a" in reg and "c" not in reg
    assert len(reg) == 2


def test_duplicate_name_raises():
    reg: Registry = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)


def test_unknown_name_lists_options_and_suggests():
    reg: Registry = Registry("advantage")
    reg.register("grpo", 1)
    reg.register("rloo", 2)
    with pytest.raises(ValueError) as info:
        reg.get("grp")
    msg = str(info.value)
    assert "unknown advantage 'grp'" in msg
    assert "did you mean 'grpo'" in msg
    assert "grpo, rloo" in msg


def test_user_code_escape_hatch():
    reg: Registry = Registry("fn")
    import os.path

    assert reg.get("os.path:join") is os.path.join
    with pytest.raises(ValueError, match="cannot import module"):
        reg.get("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="has no attribute"):
        reg.get("os.path:no_such_attr")
    with pytest.raises(ValueError, match="expected 'package.module:attribute'"):
        load_object("os.path:")


def test_bad_name_type():
    reg: Registry = Registry("fn")
    with pytest.raises(TypeError):
        reg.get(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reg.register("", 1)


def test_lazy_registration_imports_on_first_get():
    reg: Registry = Registry("backend")
    reg.register_lazy("join", "os.path:join")
    reg.register_lazy("broken", "no_such_module_xyz:f")
    import os.path

    assert "join" in reg and reg.get("join") is os.path.join
    with pytest.raises(ValueError, match="backend 'broken'.*cannot import"):
        reg.get("broken")
    with pytest.raises(ValueError, match="must be 'package.module:attribute'"):
        reg.register_lazy("x", "nocolon")
