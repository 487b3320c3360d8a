"""Training configuration: shipped defaults, a YAML file, `--set key=value`.

A config is a plain nested dict of YAML types, so it can be written into
checkpoints and manifests, diffed, and patched by diagnosis fixes without
translation. Every key is checked against `schema.SCHEMA`.
"""

from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from ceph_doctor import bounded_yaml

from ceph_doctor.config.schema import SCHEMA, coerce
from ceph_doctor.errors import ConfigError

Config = dict[str, Any]


def defaults() -> Config:
    text = resources.files("ceph_doctor.config").joinpath("defaults.yaml").read_text()
    return bounded_yaml.load(text, bounded_yaml.SHIPPED_FILE_LOADER)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults, then the file at `path`, then each `key=value` override; validated."""
    config = defaults()
    if path is not None:
        tree = _read_yaml(Path(path))
        tree.pop("scenario", None)  # a failure scenario's metadata (examples/scenarios): not a setting
        for key, value in flatten(tree).items():
            set_value(config, key, value, origin=str(path))
    for item in overrides:
        key, value = parse_override(item)
        set_value(config, key, value, origin="--set")
    check_together(config, str(path) if path is not None else "the config")
    return config


def check_together(config: Config, origin: str) -> None:
    """What no single key's range can say: settings that must fit each other. Checked here, before any data is
    prepared, rather than where a model is built minutes later."""
    sequence = (config.get("model") or {}).get("sequence") or {}
    dim, heads = sequence.get("dim"), sequence.get("heads")
    if isinstance(dim, int) and isinstance(heads, int) and heads and dim % heads:
        raise ConfigError(f"{origin}: model.sequence.dim {dim} is not divisible by model.sequence.heads {heads} "
                          "(each attention head takes dim / heads channels)")


def _read_yaml(path: Path) -> Config:
    try:
        data = bounded_yaml.load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(error, 'problem', error)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, not {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """`train.max_epochs=5` → ("train.max_epochs", 5); the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set optimizer.lr=1e-4")
    try:
        value = bounded_yaml.load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    # YAML 1.1 reads "1e-4" as a string; a user writing it means a number.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return key.strip(), value


def flatten(tree: Config, prefix: str = "") -> dict[str, Any]:
    """Nested mapping → {"a.b.c": leaf}. Mappings under schema leaves stay whole."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in SCHEMA:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def set_value(config: Config, key: str, value: Any, origin: str = "config") -> None:
    """Validate `value` for `key` and write it into `config` in place."""
    field = SCHEMA.get(key)
    if field is None:
        raise ConfigError(f"{origin}: unknown config key {key!r}{_suggest(key)}")
    try:
        value = coerce(key, field, value)
    except ValueError as error:
        raise ConfigError(f"{origin}: {key}: {error}; expected {field.describe()}") from None
    node = config
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def get_value(config: Config, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node[part]
    return node


def patched(config: Config, changes: dict[str, Any]) -> Config:
    """A validated copy of `config` with `changes` applied."""
    result = copy.deepcopy(config)
    for key, value in changes.items():
        set_value(result, key, value, origin="patch")
    return result


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, SCHEMA, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    section = key.split(".")[0]
    siblings = [k for k in SCHEMA if k.startswith(section + ".")]
    valid = siblings or sorted({k.split(".")[0] for k in SCHEMA})
    return "; valid keys: " + ", ".join(valid)
