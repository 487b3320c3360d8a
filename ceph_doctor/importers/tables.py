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

# What an importer read: logged name → (step, epoch, value, wall time) as float arrays; epoch and wall time
# NaN where the log has none.
Columns = dict[Logged, tuple[np.ndarray, ...]]


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
    for step, epoch, key, value, wall in rows:
        number = to_float(step)
        key = key if isinstance(key, Logged) else Logged(str(key))
        by_key.setdefault(key, []).append((np.nan if number is None else number, np.nan if epoch is None else epoch,
                                           value, np.nan if wall is None else wall))
    return {key: tuple(np.array(column, dtype=float) for column in zip(*found)) for key, found in by_key.items()}


@dataclass
class Scalars:
    """A run's scalars as read, with how each logged name was understood and what was decided."""

    table: ScalarTable
    names: list[NameRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    axis: str = "epoch"  # "epoch", or "iteration" when the log gives no epochs: epochs are then validations
    epoch_offset: int = 0  # added to the log's epochs: 1 for a log that counts them from 0


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
        if len(parts) == 1:  # the common case: no copying
            step, epoch, value, *wall = parts[0]
            wall = wall[0] if wall else None
        else:
            step, epoch, value, wall = (np.concatenate([_column(part, i) for part in parts]) for i in range(4))
        keep = np.isfinite(step)
        if not keep.all():
            step, epoch, value = step[keep], epoch[keep], value[keep]
            wall = None if wall is None else wall[keep]
        merged[tag] = (step, epoch, value, np.full(len(step), np.nan) if wall is None else wall)
    known = [epoch[np.isfinite(epoch)] for _, epoch, _, _ in merged.values()]
    known = [epochs for epochs in known if len(epochs)]
    shift = 1 if zero_based and known and min(epochs.min() for epochs in known) == 0 else 0
    if not known:
        counted = validations_count_epochs(merged)
        if counted:
            known, shift = [np.ones(1)], 0
            notes.append(counted)
    val_steps = np.unique(np.concatenate([step for tag, (step, *_) in merged.items() if tag.startswith("val/")]
                                         or [np.zeros(0)]))
    by_tag = {}
    for tag, (step, epoch, value, _) in merged.items():
        placed = np.isfinite(epoch)
        epoch = epoch + shift if placed.all() else np.where(placed, epoch + shift, infer_epoch(step, val_steps))
        order = np.argsort(step, kind="stable")
        by_tag[tag] = TagSeries(step[order].astype(np.int64), epoch[order].astype(np.int64), value[order])
    notes += derive(by_tag)
    axis = "iteration" if by_tag and not known else "epoch"
    if not known and by_tag:
        notes.append("no epochs in the log: iterations are the steps, and each validation counts as one epoch")
    return Scalars(ScalarTable(by_tag=by_tag), rows, notes, axis, shift if axis == "epoch" else 0)


def _column(part: tuple, index: int) -> np.ndarray:
    return part[index] if index < len(part) else np.full(len(part[0]), np.nan)


def validations_count_epochs(merged: dict[str, tuple]) -> str | None:
    """A hand-written loop often logs validation at step = epoch (1, 2, 3…) and training at the global
    step. Then the validation steps are the epochs, and each training record belongs to the epoch of
    the first validation logged after it (by wall time; by step share when the log has no times).
    Fills in the epochs of `merged` in place; the note saying so, or None when the steps are one scale."""
    val = {tag: columns for tag, columns in merged.items() if tag.startswith("val/")}
    train = {tag: columns for tag, columns in merged.items() if not tag.startswith("val/")}
    if not val or not train:
        return None
    val_steps = np.unique(np.concatenate([columns[0] for columns in val.values()]))
    train_last = max(float(columns[0].max()) for columns in train.values() if len(columns[0]))
    # Validation every `every` epochs: steps every, 2·every, … (or 0, every, …).
    every = val_steps[1] - val_steps[0] if len(val_steps) >= 2 else 0
    regular = every >= 1 and np.all(np.diff(val_steps) == every) and val_steps[0] in (0, every, 1)
    if not regular or train_last <= 1.5 * val_steps[-1]:
        return None
    shift = 1 if val_steps[0] == 0 else 0
    for tag, (step, epoch, value, wall) in val.items():
        merged[tag] = (step, step + shift, value, wall)
    # Each validation's time: the latest any validation tag logged at that step.
    steps = np.concatenate([columns[0] for columns in val.values()])
    walls = np.concatenate([columns[3] for columns in val.values()])
    val_walls = np.array([np.nanmax(walls[steps == at]) if np.isfinite(walls[steps == at]).any() else np.nan
                          for at in val_steps])
    timed = np.isfinite(val_walls).all() and all(np.isfinite(columns[3]).all() for columns in train.values())
    val_epochs = val_steps + shift
    for tag, (step, epoch, value, wall) in train.items():
        if timed:  # the epoch of the first validation after it; between two validations, spread evenly
            after = np.clip(np.searchsorted(val_walls, wall, side="left"), 0, len(val_steps) - 1)
            placed = val_epochs[after].astype(float)
        else:
            placed = np.ceil(step / (train_last / val_epochs[-1]))
        merged[tag] = (step, np.clip(placed, 1, val_epochs[-1]), value, wall)
    how = "by wall time" if timed else "by their share of the steps"
    return (f"validation was logged at steps {int(val_steps[0])}..{int(val_steps[-1])} while training went to "
            f"step {int(train_last)}: the validation steps are read as epochs, training records placed {how}")


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
