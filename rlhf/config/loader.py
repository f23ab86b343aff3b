"""YAML recipe -> nested frozen dataclasses, strictly.

Every error names the key path (``algo.clip_low``), what was expected and what was
found; an unknown key suggests the closest valid one, and a key that moved (a section's
``MOVED_KEYS``) says where it lives now. Dotted overrides from the command line
(``train.lr=1e-5``) are applied to the raw mapping before validation, so they get the same
checks; `load_raw` returns that mapping, so later checks can tell what a recipe set
explicitly from what it left at the defaults. The schema itself lives in `rlhf.config.recipe`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from data_gen.writers import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A recipe or override the user must fix; the message is shown as one line."""


# ----------------------------------------------------------------------------- loading


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a recipe file as a mapping, with a line number on syntax errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML in {p}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {p} must be a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a copy of ``data``."""
    out = _deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[: depth + 1])} is not a mapping")
            node = child
        node[parts[-1]] = value
    return out


def load_raw(path: str | os.PathLike[str], overrides: list[str] | None = None) -> dict[str, Any]:
    """The recipe's mapping with the overrides applied: exactly what the user set, no defaults."""
    return apply_overrides(read_yaml(path), overrides or [])


def load(cls: type[T], path: str | os.PathLike[str], overrides: list[str] | None = None) -> T:
    """Read, override and validate a recipe into ``cls``."""
    return from_dict(cls, load_raw(path, overrides))


# ----------------------------------------------------------------------------- validation


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, recursively and strictly."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'recipe'}: expected a mapping, got {_describe(data)}")
    fields = {yaml_key(f): f for f in dataclasses.fields(cls) if f.init}
    hints = get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        moved = getattr(cls, "MOVED_KEYS", {})
        gone = [f"{_join(path, str(k))} moved to {moved[k]}" for k in unknown if k in moved]
        if gone:  # all of them at once: a recipe written before the move usually has several
            raise ConfigError("; ".join(gone))
        key = str(unknown[0])
        hint = close_match_hint(key, fields, path)
        raise ConfigError(f"unknown key {_join(path, key)!r}{hint} (valid: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key_path = _join(path, name)
        if name in data:
            kwargs[f.name] = _convert(hints[f.name], data[name], key_path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {key_path!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path or 'recipe'}: {exc}") from None


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        for option in real:
            try:
                return _convert(option, value, path)
            except ConfigError:
                if len(real) == 1 and dataclasses.is_dataclass(option) and isinstance(value, dict):
                    raise  # `X | None` given a mapping: X's own error names the bad key inside
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, allowed))}{hint}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_describe(value)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_describe(value)}")
        _, val_tp = get_args(tp) or (str, Any)
        return {str(k): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected bool (true/false), got {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected int, got {_describe(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{path}: expected float, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected str, got {_describe(value)}")
    raise TypeError(f"config schema type {tp!r} at {path} is not supported")  # schema bug, not user error


def to_dict(cfg: Any) -> Any:
    """Dataclass -> plain YAML-able structure (tuples become lists)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {yaml_key(f): to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def save_resolved(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Write the validated config as YAML, atomically."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def yaml_key(f: dataclasses.Field) -> str:
    """A field's key in YAML: its name, or `metadata["key"]` where the name is a Python keyword (`async`)."""
    return str(f.metadata.get("key", f.name))


def close_match_hint(key: str, options: Any, path: str = "", cutoff: float = 0.6) -> str:
    """``; did you mean 'path.option'?`` for the option closest to a mistyped key, else ''."""
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=cutoff)
    return f"; did you mean {_join(path, close[0])!r}?" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _type_name(tp: Any) -> str:
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _deepcopy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


__all__ = [
    "ConfigError",
    "apply_overrides",
    "close_match_hint",
    "from_dict",
    "load",
    "load_raw",
    "read_yaml",
    "save_resolved",
    "to_dict",
    "yaml_key",
]
