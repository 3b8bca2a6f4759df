"""Dataclass configs from YAML recipes plus ``key=value`` overrides.

A package describes its settings as (nested) dataclasses with the paper's defaults;
a recipe is a YAML mapping with the same keys; overrides are dotted ``key=value``
strings whose values are parsed as YAML scalars (``lr=1e-5``, ``model.name=tiny:qwen2``,
``stages=[sft,rl]``). Unknown keys and values of the wrong type are errors that name the
key and the file, so a recipe that rots with a renamed field fails loudly in a test.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from rlcore.errors import ConfigError

__all__ = ["ConfigError", "check", "check_choice", "config_to_dict", "load_config", "parse_overrides"]

T = TypeVar("T")


def check(condition: bool, key: str, message: str) -> None:
    """For a config's ``__post_init__``: ``ConfigError("<key>: <message>")`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


def check_choice(value: Any, key: str, choices: Sequence[Any]) -> None:
    """``ConfigError`` naming ``key`` and listing ``choices`` unless ``value`` is one of them."""
    check(value in choices, key, f"{value!r} is not one of {', '.join(map(str, choices))}")


def _where(source: str | None) -> str:
    return f" in {source}" if source else ""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, source: str | None) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert where YAML is looser than Python
    (an int where a float is expected, a list where a tuple is expected, a mapping for a dataclass)."""
    origin = get_origin(tp)
    if tp is Any or tp is typing.Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own error names the offending key
            return _coerce(value, options[0], key, source)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}{_where(source)}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        choices = ", ".join(repr(a) for a in get_args(tp))
        raise ConfigError(f"{key}: {value!r} is not one of {choices}{_where(source)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {value!r}{_where(source)}")
        return _build(tp, value, source, prefix=f"{key}.")
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}{_where(source)}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}{_where(source)}")
            items = [
                _coerce(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else list(items)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}{_where(source)}")
        args = get_args(tp)
        if len(args) == 2:
            return {
                _coerce(k, args[0], key, source): _coerce(v, args[1], f"{key}.{k}", source)
                for k, v in value.items()
            }
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}{_where(source)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}{_where(source)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}{_where(source)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}{_where(source)}")
        return value
    if tp is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{key}: expected a path, got {value!r}{_where(source)}")
        return Path(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}{_where(source)}")
    return value


def _build(cls: type[T], values: Mapping[str, Any], source: str | None, prefix: str = "") -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{prefix}{key}'{_where(source)} (known: {known})")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}", source)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if source and source not in str(exc):
            raise ConfigError(f"{exc}{_where(source)}") from None
        raise
    except TypeError as exc:  # a required field without a default that the recipe left out
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}{_where(source)}") from None


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``; values are YAML scalars (or flow lists)."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of '{part}'")
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}:{line}: {problem}".replace(":: ", ": ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the recipe must be a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build the dataclass ``cls`` from the YAML file ``path`` (optional) and dotted ``key=value`` overrides.

    Unknown keys, values of the wrong type and malformed YAML raise :class:`ConfigError` naming the key
    and the file; a missing file raises ``FileNotFoundError`` naming it.
    """
    values: dict[str, Any] = {}
    source = None
    if path is not None:
        path = Path(path)
        source = str(path)
        values = _read_yaml(path)
    if overrides:
        values = _merge(values, parse_overrides(overrides))
        source = f"{source} + overrides" if source else "overrides"
    return _build(cls, values, source)


def config_to_dict(config: Any) -> Any:
    """Plain YAML-ready data from a (nested) dataclass: tuples become lists, paths strings."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): config_to_dict(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [config_to_dict(v) for v in config]
    if isinstance(config, Path):
        return str(config)
    return config
