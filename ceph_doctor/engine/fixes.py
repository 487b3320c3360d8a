"""Fixes: patches on canonical config keys, applied to a config and written back as YAML.

Three operations, all on keys of `config.schema.SCHEMA`:

- `set`: the key takes the value.
- `multiply`: a numeric key is scaled by a positive factor (ints are rounded, results kept in
  the key's range and to 6 significant digits, so 0.002 × 0.2 is written 0.0004).
- `enable`: a true/false or nullable key is switched on: to the value given, else to `True`
  for a boolean, else to the key's usual on-value in `ENABLE_DEFAULTS`.

`engine/plan.py` merges the fixes of a run's diagnoses into one change per key and applies them; this module
validates a fix and computes what it does to one value (`planned_change`), and writes the patched config.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import yaml

from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.config import get_value
from ceph_doctor.config.schema import SCHEMA, Field, coerce
from ceph_doctor.engine.diagnosis import Fix
from ceph_doctor.engine.expr import is_number

FIX_OPS = ("set", "multiply", "enable")
# What "switch it on" means for keys whose off-value is null.
ENABLE_DEFAULTS: dict[str, Any] = {
    "train.ema": 0.999,  # the usual decay of a weight EMA
    "train.early_stopping.patience": 5,  # validations without improvement
    "train.grad_clip": 1.0,  # max total gradient norm
}
SIGNIFICANT_DIGITS = 6
UNSET = object()  # a fix written without `value:` (not the same as `value: null`)


def checked_fix_value(key: str, op: str, value: Any = UNSET) -> Any:
    """The value a fix of `op` on `key` will use, validated; ValueError(problem) when it cannot work."""
    field = SCHEMA[key]
    if field.kind in ("int", "float") and isinstance(value, str):
        value = _number_text(value)  # YAML 1.1 reads 1e-4 as a string
    if op == "multiply":
        if field.kind not in ("int", "float"):
            raise ValueError(f"multiply needs a numeric key; {key} holds {field.describe()}")
        if value is UNSET or not is_number(value) or not _finite(value) or value <= 0:
            raise ValueError(f"multiply needs a positive factor, e.g. value: 0.2 (found {shown_value(value)})")
        return float(value)
    if op == "enable":
        if field.kind != "bool" and not field.nullable:
            raise ValueError(f"enable needs a true/false or nullable key; {key} holds {field.describe()}")
        if value is UNSET:
            value = True if field.kind == "bool" else ENABLE_DEFAULTS.get(key, UNSET)
        if value is UNSET:
            raise ValueError(f"enable on {key} needs a value: it has no default on-value")
        if value is None or value is False:
            raise ValueError(f"enable needs an on-value, not {shown_value(value)}")
    elif value is UNSET:
        raise ValueError(f"set needs a value ({field.describe()})")
    try:
        return coerce(key, field, value)
    except ValueError as error:
        raise ValueError(f"{error}; {key} holds {field.describe()}") from None


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def _number_text(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def planned_change(fix: Fix, config: dict) -> tuple[Any, Any]:
    """(current, new): what applying `fix` alone to `config` changes (rounding, the key's range kept): the one
    place a fix's arithmetic is done, for the plan, the reports and every framework's config line.
    `current` is None where the config lacks the key;
    `new` is None where a factor has no current value to scale."""
    current = _current(config or {}, fix.key)
    if fix.op == "multiply":
        return current, _scaled(SCHEMA[fix.key], current, fix.value) if is_number(current) else None
    if fix.op == "enable" and fix.value is None:
        return current, True
    return current, fix.value


def describe_fix(fix: Fix) -> str:
    """A fix in words a user can type: "set codec.sigma=2.0", "multiply optimizer.lr by 0.1"."""
    if fix.op == "multiply":
        return f"multiply {fix.key} by {fix.value:g}"
    plain = isinstance(fix.value, (int, float, str)) and not isinstance(fix.value, bool)
    return f"set {fix.key}={fix.value if plain else shown_value(fix.value)}"  # as --set takes it


def _current(config: dict, key: str) -> Any:
    try:
        return get_value(config, key)
    except (KeyError, TypeError):
        return None  # a config from an older run may lack the key: treat it as unset


def _scaled(field: Field, current: float, factor: float) -> int | float:
    value = current * factor
    low = field.low if field.low is not None else -math.inf
    high = field.high if field.high is not None else math.inf
    if field.kind == "int":
        value = max(round(value), 1) if field.positive else round(value)
        return int(min(max(value, low), high))
    value = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return min(max(value, low), high)


def shown_value(value: Any, quoted: bool = True) -> str:
    """A config value as YAML and `--set` spell it: null, true, 0.004, [128, 160]; text quoted unless
    `quoted` is false (a `--set key=value` takes it bare)."""
    if value is UNSET:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if quoted else value
    if isinstance(value, float):  # exact (0.0004, not 4e-4 rounded), and 2 rather than 2.0
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown_value(item, quoted) for item in value) + "]"
    return str(value)


class _ConfigDumper(yaml.SafeDumper):
    """Block-style sections, like defaults.yaml; short lists of scalars inline: `input_size: [128, 160]`."""


_ConfigDumper.add_representer(
    list,
    lambda dumper, items: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", items, flow_style=all(not isinstance(item, (dict, list)) for item in items)
    ),
)


def emit_config(path: str | Path, config: dict, changes: Iterable[str] = ()) -> Path:
    """Write `config` as a YAML file that `ceph-doctor train --config FILE` reads back unchanged.

    `changes` (the lines from `apply_fixes`) go on top as comments. The file is ASCII, so it
    reads the same under any locale.
    """
    path = Path(path)
    header = [
        "# Patched by ceph-doctor from the diagnoses of a run. Train again with:",
        f"#   ceph-doctor train --config {path.name}",
        *(f"#   {' '.join(line.split())}" for line in changes),  # one comment line each, whatever the reason holds
    ]
    body = yaml.dump(config, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=False, width=100)
    text = "\n".join(header) + "\n" + body
    text = text.replace("→", "->").replace("×", "x").encode("ascii", "replace").decode("ascii")
    atomic_write_bytes(path, text.encode("ascii"))
    return path
