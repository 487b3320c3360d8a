"""What a format read (numbers by logged name) → the run's scalar table (series by tag).

Importers collect `Columns`: per logged name, the step, the epoch (NaN where the log gives none)
and the value of each record. `scalar_table` resolves every name of the run together
(`NameMap.resolve`), places the epochs, and adds the roles a log implies without naming them
(`roles.derive`: a training loss that is the sum of its parts, a trainable fraction from counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceph_doctor.importers.names import Logged, NameMap, NameRow
from ceph_doctor.importers.roles import derive
from ceph_doctor.store.scalars import ScalarTable, TagSeries

# What an importer read: logged name → (step, epoch, value) as float arrays, epoch NaN where the log has none.
Columns = dict[Logged, tuple[np.ndarray, np.ndarray, np.ndarray]]


def to_float(text: Any) -> float | None:
    """A logged number, NaN and ±inf included; None for anything that is not a number."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    try:
        return float(str(text).strip())
    except (TypeError, ValueError):
        return None


def rows_to_columns(rows: list[tuple]) -> Columns:
    """rows of (step, epoch | None, Logged | name, value, wall_time | None) → columns by logged name."""
    by_key: dict[Logged, list[tuple]] = {}
    for step, epoch, key, value, _ in rows:
        number = to_float(step)
        key = key if isinstance(key, Logged) else Logged(str(key))
        by_key.setdefault(key, []).append((np.nan if number is None else number,
                                           np.nan if epoch is None else epoch, value))
    return {key: tuple(np.array(column, dtype=float) for column in zip(*found)) for key, found in by_key.items()}


@dataclass
class Scalars:
    """A run's scalars as read, with how each logged name was understood and what was decided."""

    table: ScalarTable
    names: list[NameRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    axis: str = "epoch"  # "epoch", or "iteration" when the log gives no epochs: epochs are then validations


def scalar_table(files: list[Columns], names: NameMap, zero_based: bool = False) -> Scalars:
    """Columns of one or more files of one run → the run's scalars, tag by tag in step order.

    Epochs the log did not give are the validation they precede (`infer_epoch`); a run without any
    epoch is iteration-based and says so (`axis`). With `zero_based`, a log whose epochs start at 0
    (Lightning, Keras, most scripts) is shifted to start at 1 like ours. Rows without a finite step
    are dropped.
    """
    keys = [key for columns in files for key in columns]
    tags, rows, notes = names.resolve(keys)
    joined: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for columns in files:
        for key, arrays in columns.items():
            if tags.get(key) is not None:
                joined.setdefault(tags[key], []).append(arrays)
    merged = {}
    for tag, parts in joined.items():
        step, epoch, value = (np.concatenate([part[i] for part in parts]) for i in range(3))
        keep = np.isfinite(step)
        merged[tag] = (step[keep], epoch[keep], value[keep])
    known = [epoch[np.isfinite(epoch)] for _, epoch, _ in merged.values()]
    known = [epochs for epochs in known if len(epochs)]
    shift = 1 if zero_based and known and min(epochs.min() for epochs in known) == 0 else 0
    val_steps = np.unique(np.concatenate([step for tag, (step, _, _) in merged.items() if tag.startswith("val/")]
                                         or [np.zeros(0)]))
    by_tag = {}
    for tag, (step, epoch, value) in merged.items():
        epoch = np.where(np.isfinite(epoch), epoch + shift, infer_epoch(step, val_steps))
        order = np.argsort(step, kind="stable")
        by_tag[tag] = TagSeries(step[order].astype(np.int64), epoch[order].astype(np.int64), value[order])
    notes += derive(by_tag)
    axis = "iteration" if by_tag and not known else "epoch"
    if not known and by_tag:
        notes.append("no epochs in the log: iterations are the steps, and each validation counts as one epoch")
    return Scalars(ScalarTable(by_tag=by_tag), rows, notes, axis)


def infer_epoch(step: np.ndarray, val_steps: np.ndarray) -> np.ndarray:
    """Everything up to and including the n-th validation step (sorted, unique) is epoch n."""
    if len(val_steps) == 0:
        return step.astype(float)
    return np.searchsorted(val_steps, step, side="left").astype(float) + 1


def non_finite_note(table: ScalarTable) -> list[str]:
    bad = {tag: int((~np.isfinite(table.series(tag).value)).sum()) for tag in table.tags}
    bad = {tag: count for tag, count in bad.items() if count}
    if not bad:
        return []
    return [f"kept {sum(bad.values())} non-finite value(s) (NaN/inf) as logged, in {', '.join(sorted(bad)[:5])}"]
