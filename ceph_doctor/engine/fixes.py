"""Fixes: patches on canonical config keys, applied to a config and written back as YAML.

Three operations, all on keys of `config.schema.SCHEMA`:

- `set`: the key takes the value.
- `multiply`: a numeric key is scaled by a positive factor (ints are rounded, results kept in
  the key's range and to 6 significant digits, so 0.002 × 0.2 is written 0.0004).
- `enable`: a true/false or nullable key is switched on: to the value given, else to `True`
  for a boolean, else to the key's usual on-value in `ENABLE_DEFAULTS`.

`apply_fixes` closes the loop: diagnoses → patched config → `ceph-doctor train --config FILE`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import yaml

from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.config import flatten, get_value, load_config, patched, set_value
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
            raise ValueError(f"multiply needs a positive factor, e.g. value: 0.2 (found {_shown(value)})")
        return float(value)
    if op == "enable":
        if field.kind != "bool" and not field.nullable:
            raise ValueError(f"enable needs a true/false or nullable key; {key} holds {field.describe()}")
        if value is UNSET:
            value = True if field.kind == "bool" else ENABLE_DEFAULTS.get(key, UNSET)
        if value is UNSET:
            raise ValueError(f"enable on {key} needs a value: it has no default on-value")
        if value is None or value is False:
            raise ValueError(f"enable needs an on-value, not {_shown(value)}")
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


def apply_fixes(config: dict, fixes: Iterable[Fix]) -> tuple[dict, list[str]]:
    """A validated copy of `config` with `fixes` applied, and one line per changed key.

    Several fixes on one key combine deterministically: identical fixes count once (two
    diagnoses asking for "lr × 0.2" mean one × 0.2, with both reasons); distinct `multiply`
    factors compose (× 0.5 then × 0.4 is × 0.2); a `set` or `enable` wins over every
    `multiply` on the key; among several, the first in the order given wins — callers pass
    fixes in diagnosis order, so the most severe diagnosis decides. Lines follow the order in
    which keys first appear, e.g. `optimizer.lr: 0.002 → 0.0004 (×0.2: reason)`.
    """
    groups: dict[str, list[Fix]] = {}
    for fix in fixes:
        if fix.op not in FIX_OPS:
            raise ValueError(f"unknown fix op {fix.op!r}")
        groups.setdefault(fix.key, []).append(fix)
    changes: dict[str, Any] = {}
    lines: list[str] = []
    for key, group in groups.items():
        group = _merged_duplicates(group)
        current = _current(config, key)
        setters = [fix for fix in group if fix.op != "multiply"]
        if setters:
            chosen = setters[0]
            new = chosen.value
            detail = f"{chosen.op}: {chosen.reason}"
            ignored = [_describe(fix) for fix in group if fix is not chosen]
            if ignored:
                detail += f"; instead of {', '.join(ignored)}"
        else:
            factor = math.prod(fix.value for fix in group)
            if not is_number(current):
                lines.append(f"{key}: {_shown(current)} cannot be multiplied; skipped (×{factor:g}: {_reasons(group)})")
                continue
            new = _scaled(SCHEMA[key], current, factor)
            steps = " ".join(f"×{fix.value:g}" for fix in group)
            detail = f"{steps}{f' = ×{factor:g}' if len(group) > 1 else ''}: {_reasons(group)}"
        changes[key] = new
        note = "; already so" if new == current and type(new) is type(current) else ""
        lines.append(f"{key}: {_shown(current)} → {_shown(new)} ({detail}{note})")
    return patched(config, changes), lines


def planned_change(fix: Fix, config: dict) -> tuple[Any, Any]:
    """(current, new): what applying `fix` alone to `config` changes, by the same arithmetic as
    `apply_fixes` (rounding, the key's range). `current` is None where the config lacks the key;
    `new` is None where a factor has no current value to scale."""
    current = _current(config or {}, fix.key)
    if fix.op == "multiply":
        return current, _scaled(SCHEMA[fix.key], current, fix.value) if is_number(current) else None
    if fix.op == "enable" and fix.value is None:
        return current, True
    return current, fix.value


def _merged_duplicates(group: list[Fix]) -> list[Fix]:
    merged: dict[tuple, Fix] = {}
    for fix in group:
        identity = (fix.op, repr(fix.value))
        if identity in merged:
            first = merged[identity]
            if fix.reason not in first.reason.split("; "):
                merged[identity] = Fix(first.key, first.op, first.value, f"{first.reason}; {fix.reason}")
        else:
            merged[identity] = fix
    return list(merged.values())


def describe_fix(fix: Fix) -> str:
    """A fix in words a user can type: "set codec.sigma=2.0", "multiply optimizer.lr by 0.1"."""
    if fix.op == "multiply":
        return f"multiply {fix.key} by {fix.value:g}"
    plain = isinstance(fix.value, (int, float, str)) and not isinstance(fix.value, bool)
    return f"set {fix.key}={fix.value if plain else _shown(fix.value)}"  # as --set takes it


def _describe(fix: Fix) -> str:
    return f"×{fix.value:g}" if fix.op == "multiply" else f"{fix.op} {_shown(fix.value)}"


def _reasons(group: list[Fix]) -> str:
    return "; ".join(dict.fromkeys(fix.reason for fix in group))


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


def _shown(value: Any) -> str:
    if value is UNSET:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, (float, str)) else str(value)


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


def repaired_config(run_config: dict, diagnoses: Iterable) -> tuple[dict, list[str]]:
    """A run's config, completed with today's defaults and validated, with every diagnosis's fixes applied."""
    config = load_config()
    for key, value in flatten(run_config).items():
        set_value(config, key, value, origin="the run's config")
    return apply_fixes(config, [fix for diagnosis in diagnoses for fix in diagnosis.fixes])
