"""Run configs as dataclasses, saved as YAML beside a run's outputs and read back strictly.

Every command's settings are one dataclass (``TrainConfig``, ``SimulateConfig``, ``MDConfig``,
``EvaluateConfig``, ``AnalyzeConfig``): ``save_yaml`` writes it beside the outputs, ``load_yaml`` reads it back
(``--config`` of every command), refusing unknown keys by name. A field renamed since older files were written
keeps its old key as an alias (``field(metadata={"aliases": ("old_name",)})``); nested configs and lists of
configs (``metadata={"items": Class}``) are built recursively. Bad values raise ``ConfigError`` naming the file
and the key.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Optional, TypeVar

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


def config_from_dict(cls: type[C], data: Any, where: str = "config") -> C:
    """Config dataclass ``cls`` from plain data; ``where`` (a file, a key path) names the culprit in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} settings, got {data!r}")
    known = {f.name: f for f in fields(cls)}
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
