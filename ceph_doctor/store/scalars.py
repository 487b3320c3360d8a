"""A run's scalars in the shapes they are read in: arrays per tag (signals) and one long table (reports, users'
own pandas), the latter as numpy columns or as a pandas frame.

Each shape is built from another on first use. A CSV log arrives as series, one per tag; the run store as
columns; and `analyze` never needs the frame (pandas is imported only where a frame is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from ceph_doctor.store import layout
from ceph_doctor.store.columns import factorize

if TYPE_CHECKING:
    import pandas as pd

@dataclass(frozen=True)
class TagSeries:
    """One tag's rows as arrays, in step order (then as logged)."""

    step: np.ndarray  # int64
    epoch: np.ndarray  # int64
    value: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.step)


def last_per(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last value logged at each key (a step or an epoch), keys ascending."""
    if (keys[1:] < keys[:-1]).any():
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
    last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, bool)
    return keys[last], values[last]


EMPTY = TagSeries(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


class ScalarTable:
    """step, epoch, tag, value, wall_time: as `frame`, as `columns`, or tag by tag through `series(tag)`."""

    def __init__(self, frame: "pd.DataFrame | None" = None, by_tag: dict[str, TagSeries] | None = None,
                 columns: dict[str, np.ndarray] | None = None) -> None:
        """From a frame, from series by tag or from columns (one of them); from none, an empty table."""
        if sum(shape is not None for shape in (frame, by_tag, columns)) > 1:
            raise ValueError("a ScalarTable is built from a frame, series by tag or columns: one of them")
        self._frame = frame
        self._columns = columns
        self._by_tag = by_tag if any(shape is not None for shape in (frame, by_tag, columns)) else {}

    @property
    def frame(self) -> "pd.DataFrame":
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame({name: pd.array(values, dtype="string") if name == "tag" else values
                                        for name, values in self.columns.items()}, columns=list(layout.SCALAR_COLUMNS))
        return self._frame

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The five columns as arrays (the tag as an object array of str), rows in the order logged."""
        if self._columns is None:
            self._columns = (columns_of_frame(self._frame) if self._frame is not None
                             else columns_of(self._by_tag))
        return self._columns

    def series(self, tag: str) -> TagSeries:
        return self._tags().get(tag, EMPTY)

    @property
    def tags(self) -> list[str]:
        return list(self._tags())

    @property
    def empty(self) -> bool:
        return not any(len(series) for series in self._tags().values())

    @property
    def last_epoch(self) -> int | None:
        """The last epoch anything was logged in."""
        ends = [int(series.epoch.max()) for series in self._tags().values() if len(series)]
        return max(ends) if ends else None

    def until(self, epoch: int) -> "ScalarTable":
        """The rows logged in `epoch` or before."""
        columns = self.columns
        keep = columns["epoch"] <= epoch
        return ScalarTable(columns={name: values[keep] for name, values in columns.items()})

    def _tags(self) -> dict[str, TagSeries]:
        if self._by_tag is None:
            columns = self.columns
            self._by_tag = split_by_tag(columns["step"], columns["epoch"], columns["tag"], columns["value"])
        return self._by_tag


def split_by_tag(step: np.ndarray, epoch: np.ndarray, tag: np.ndarray, value: np.ndarray) -> dict[str, TagSeries]:
    """One pass over the rows (a factorize and a stable sort), not one boolean scan per tag."""
    if len(tag) == 0:
        return {}
    codes, tags = factorize(tag, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(tags)))[:-1]
    step, epoch = np.asarray(step, np.int64), np.asarray(epoch, np.int64)
    value = np.asarray(value, np.float64)
    by_tag = {}
    for name, at in zip(tags, np.split(order, bounds)):
        if name is None:  # a row without a tag (a hand-made frame) belongs to no series
            continue
        if (step[at][1:] < step[at][:-1]).any():  # a hand-made or merged frame out of step order
            at = at[np.argsort(step[at], kind="stable")]
        by_tag[str(name)] = TagSeries(step[at], epoch[at], value[at])
    return by_tag


def columns_of_frame(frame: "pd.DataFrame") -> dict[str, np.ndarray]:
    tag = frame["tag"]
    return {
        "step": frame["step"].to_numpy(np.int64),
        "epoch": frame["epoch"].to_numpy(np.int64),
        "tag": tag.to_numpy(dtype=object, na_value=None),
        "value": frame["value"].to_numpy(np.float64),
        "wall_time": frame["wall_time"].to_numpy(np.float64) if "wall_time" in frame else np.full(len(frame), np.nan),
    }


def columns_of(by_tag: dict[str, TagSeries]) -> dict[str, np.ndarray]:
    """Series by tag as one table in step order (their wall times unknown: NaN)."""
    names = list(by_tag)
    lengths = [len(by_tag[name]) for name in names]
    step = np.concatenate([by_tag[name].step for name in names]) if names else np.zeros(0, np.int64)
    order = np.argsort(step, kind="stable")
    codes = np.repeat(np.arange(len(names)), lengths)[order]
    tags = np.empty(len(names), object)
    tags[:] = names
    return {
        "step": step[order].astype(np.int64),
        "epoch": np.concatenate([by_tag[name].epoch for name in names])[order] if names else np.zeros(0, np.int64),
        "tag": tags[codes],
        "value": np.concatenate([by_tag[name].value for name in names])[order] if names else np.zeros(0),
        "wall_time": np.full(len(step), np.nan),
    }
