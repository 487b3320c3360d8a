"""A run's scalars in the two shapes they are read in: arrays per tag (signals) and one long frame
(reports, `Run.until`, users' own pandas).

Either shape is built from the other on first use. A CSV log arrives as columns, one per tag,
and `analyze` never needs the frame; the run store arrives as the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ceph_doctor.store import layout

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
    """step, epoch, tag, value, wall_time: as `frame`, or tag by tag through `series(tag)`."""

    def __init__(self, frame: pd.DataFrame | None = None, by_tag: dict[str, TagSeries] | None = None) -> None:
        """From a frame or from series by tag (one of them); from neither, an empty table."""
        if frame is not None and by_tag is not None:
            raise ValueError("a ScalarTable is built from a frame or from series by tag, not both")
        self._frame = frame
        self._by_tag = by_tag if by_tag is not None or frame is not None else {}

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = frame_of(self._by_tag)
        return self._frame

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

    def _tags(self) -> dict[str, TagSeries]:
        if self._by_tag is None:
            self._by_tag = split_by_tag(self._frame)
        return self._by_tag


def split_by_tag(frame: pd.DataFrame) -> dict[str, TagSeries]:
    """One pass over the frame (a factorize and a stable sort), not one boolean scan per tag."""
    if frame.empty:
        return {}
    codes, tags = pd.factorize(frame["tag"])
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]
    bounds = np.cumsum(np.bincount(codes[codes >= 0], minlength=len(tags)))[:-1]
    step, epoch = frame["step"].to_numpy(np.int64), frame["epoch"].to_numpy(np.int64)
    value = frame["value"].to_numpy(np.float64)
    by_tag = {}
    for tag, at in zip(tags, np.split(order, bounds)):
        if (step[at][1:] < step[at][:-1]).any():  # a hand-made or merged frame out of step order
            at = at[np.argsort(step[at], kind="stable")]
        by_tag[str(tag)] = TagSeries(step[at], epoch[at], value[at])
    return by_tag


def frame_of(by_tag: dict[str, TagSeries]) -> pd.DataFrame:
    names = list(by_tag)
    lengths = [len(by_tag[name]) for name in names]
    step = np.concatenate([by_tag[name].step for name in names]) if names else np.zeros(0, np.int64)
    order = np.argsort(step, kind="stable")
    codes = np.repeat(np.arange(len(names)), lengths)[order]
    return pd.DataFrame({
        "step": step[order].astype(np.int64),
        "epoch": np.concatenate([by_tag[name].epoch for name in names])[order] if names else np.zeros(0, np.int64),
        "tag": pd.array(pa.array(names, pa.string()).take(pa.array(codes, pa.int64())), dtype="string"),
        "value": np.concatenate([by_tag[name].value for name in names])[order] if names else np.zeros(0),
        "wall_time": np.full(len(step), np.nan),
    }, columns=list(layout.SCALAR_COLUMNS))
