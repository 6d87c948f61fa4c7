"""Run configs as dataclasses, saved as YAML beside a run's outputs and read back strictly.

Every command's settings are one dataclass (``TrainConfig``, ``SimulateConfig``, ``MDConfig``,
``EvaluateConfig``, ``AnalyzeConfig``): ``save_yaml`` writes it beside the outputs, ``load_yaml`` reads it back
(``--config`` of every command), refusing unknown keys by name. A field renamed since older files were written
keeps its old key as an alias (``field(metadata={"aliases": ("old_name",)})``); nested configs and lists of
configs (``metadata={"items": Class}``) are built recursively. Every value is checked against its field's type
annotation (``float``, ``int``, ``bool``, ``str``, ``X | None``, ``list[X]``): a number YAML leaves as a
string (PyYAML reads ``1e-3`` as one) is read as the number it means, an int where a float is expected becomes
a float, and anything else of the wrong type (``steps: ten``, ``batch_size: 2.5``, ``cluster_sampling: "no"``)
is refused. Bad values raise ``ConfigError`` naming the file and the key.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, TypeVar

import yaml

from .errors import ConfigError

C = TypeVar("C")


def config_to_dict(config: Any) -> Any:
    """A (nested) config dataclass as plain YAML-safe data."""
    if is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in fields(config)}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(item) for item in config]
    if isinstance(config, Path):
        return str(config)
    return config


def _canonical_keys(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` with old key names (field aliases) replaced by the field names; unknown keys refused."""
    names = {f.name: f.name for f in fields(cls)}
    names.update({alias: f.name for f in fields(cls) for alias in f.metadata.get("aliases", ())})
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown {cls.__name__} setting(s) {unknown}; known: "
                          f"{sorted(f.name for f in fields(cls))}")
    canonical: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in data.items():
        name = names[key]
        if name in canonical:
            first, second = sorted((given_as[name], key))
            raise ConfigError(f"{where}: {first!r} and {second!r} name the same {cls.__name__} setting; keep one")
        canonical[name], given_as[name] = value, key
    return canonical


_TYPE_NAMES = {float: "a number", int: "a whole number", bool: "true or false", str: "a string",
               Path: "a path"}


def _typed(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the type ``annotation`` names, or ``ConfigError`` saying what ``name`` expects.

    YAML's scalars are taken for what they mean: ``1e-3`` (a string to PyYAML) as 0.001, ``1e4`` or ``8.0``
    as a whole number where one is expected; a string is never read as a bool (``"no"`` would be truthy).
    """
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        options = [a for a in arguments if a is not type(None)]
        if len(options) == 1:
            return _typed(value, options[0], name)
        return value
    if origin in (list, tuple) and arguments:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return origin(_typed(item, arguments[0], f"{name}[{i}]") for i, item in enumerate(value))
    if annotation not in _TYPE_NAMES or isinstance(value, annotation) and not (
            isinstance(value, bool) and annotation is not bool):
        return value
    number = None
    if annotation in (float, int) and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
    if annotation is float and number is not None:
        return number
    if annotation is int and number is not None and math.isfinite(number) and number.is_integer():
        return int(number)
    if annotation is Path and isinstance(value, str):
        return Path(value)
    raise ConfigError(f"{name} must be {_TYPE_NAMES[annotation]}, got {value!r}")


def check_ranges(config: Any, *, at_least_one: Iterable[str] = (), positive: Iterable[str] = (),
                 non_negative: Iterable[str] = ()) -> None:
    """Refuse by name the fields of ``config`` (a dataclass, in ``__post_init__``) outside their range; a field
    that is None (not set) passes."""
    kind = type(config).__name__
    for names, holds, rule in ((at_least_one, lambda v: v >= 1, ">= 1"), (positive, lambda v: v > 0, "> 0"),
                               (non_negative, lambda v: v >= 0, ">= 0")):
        for name in names:
            value = getattr(config, name)
            if value is not None and not holds(value):
                raise ConfigError(f"{kind}.{name} must be {rule}, got {value}")


def config_from_dict(cls: type[C], data: Any, where: str = "config") -> C:
    """Config dataclass ``cls`` from plain data; ``where`` (a file, a key path) names the culprit in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} settings, got {data!r}")
    known = {f.name: f for f in fields(cls)}
    annotations = typing.get_type_hints(cls)
    values = {}
    for name, value in _canonical_keys(cls, data, where).items():
        spec = known[name]
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        if "items" in spec.metadata:
            value = [config_from_dict(spec.metadata["items"], item, f"{where}.{name}[{i}]")
                     for i, item in enumerate(value)]
        elif is_dataclass(default) and value is not None:
            value = config_from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            value = tuple(value)
        else:
            try:
                value = _typed(value, annotations[name], f"{cls.__name__}.{name}")
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from error


def load_yaml(cls: type[C], path: str | Path, overrides: Optional[dict[str, Any]] = None) -> C:
    """``cls`` from the YAML file ``path``, then ``overrides`` (already in field names) on top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {cls.__name__} settings, got {data!r}")
    return config_from_dict(cls, {**_canonical_keys(cls, data, str(path)), **(overrides or {})}, where=str(path))


def save_yaml(config: Any, path: str | Path) -> Path:
    """Write ``config`` as YAML to ``path`` (its folder is made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return path
