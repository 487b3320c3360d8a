"""What the figures read from a Run, in the shapes they draw: curves by epoch, errors by landmark.

One place chooses which predictions stand for "the model on validation" (the heatmap decode, else
the autoregressive one, which is what inference runs), which unit errors are shown in, and where the
best epoch is: every figure then agrees with the others.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np
import pandas as pd

from ceph_doctor.store.monitor import best_of, monitor_of, value_unit
from ceph_doctor.store.scalars import last_per

DECODE_PREFERENCE = ("heatmap", "autoregressive", "teacher_forced")
_POSITION_TAG = re.compile(r"val/error_by_position/(\d+)")


def epoch_axis(rows: pd.DataFrame) -> pd.Series:
    """An x value per row: the epoch for once-per-epoch tags, and for per-step tags a fraction
    spread evenly over the epoch, ending on it (so a step's loss lines up with that epoch's validation)."""
    rows = rows.sort_values("step")
    epoch = rows["epoch"].astype(float)
    per_epoch = rows.groupby("epoch")["step"].transform("size")
    if (per_epoch <= 1).all():
        return epoch
    rank = rows.groupby("epoch").cumcount() + 1
    return epoch - 1 + rank / per_epoch


# Beyond this magnitude the difference or product of two values overflows a float, and matplotlib's axis
# transforms with it: such values (a diverged loss logged as 1e308) are left off a plot like NaN and inf.
PLOTTABLE_MAGNITUDE = float(np.sqrt(np.finfo(float).max))


def plottable(values: np.ndarray) -> np.ndarray:
    """Which values a plot can place: finite and within `PLOTTABLE_MAGNITUDE`."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) < PLOTTABLE_MAGNITUDE)


class RunView:
    def __init__(self, run):
        self.run = run
        self.scalars = run.scalars if run.scalars is not None else pd.DataFrame(columns=["step", "epoch", "tag"])

    # --------------------------------------------------------------- scalars
    @cached_property
    def tags(self) -> set[str]:
        return set(self.scalars["tag"].astype(str)) if len(self.scalars) else set()

    def series(self, tag: str) -> pd.Series:
        """Plottable values of one tag (`drawing.plottable`) indexed by (fractional) epoch; empty when the tag
        was not logged."""
        if tag not in self.tags:
            return pd.Series(dtype=float)
        rows = self.scalars[self.scalars["tag"] == tag].drop_duplicates("step", keep="last")
        series = pd.Series(rows["value"].to_numpy(dtype=float), index=epoch_axis(rows).to_numpy()).sort_index()
        return series[plottable(series.to_numpy())]

    @cached_property
    def metric_tag(self) -> str | None:
        """The monitored metric (`store.monitor`): the one the engine judged."""
        monitor = monitor_of(self.run)
        return monitor.metric if monitor is not None else None

    @cached_property
    def metric_unit(self) -> str:
        """How the monitored metric's values read (`store.monitor.value_unit`): "mm", "px", "share", "%" or ""."""
        return "" if self.metric_tag is None else value_unit(self.metric_tag, self.run.series(self.metric_tag).value)

    @property
    def metric_mode(self) -> str | None:
        monitor = monitor_of(self.run)
        return None if monitor is None else monitor.mode

    @cached_property
    def best(self) -> tuple[int, float] | None:
        """(epoch, value) where the monitored metric was best, as the engine sees it."""
        monitor = monitor_of(self.run)
        if monitor is None:
            return None
        rows = self.run.series(monitor.metric)
        return best_of(*last_per(rows.epoch, rows.value), monitor.mode)

    @property
    def best_epoch(self) -> int | None:
        return None if self.best is None else self.best[0]

    def error_by_position(self) -> pd.DataFrame | None:
        """Autoregressive error (px) with one row per validation epoch and one column per sequence position."""
        positions = sorted(tag for tag in self.tags if _POSITION_TAG.fullmatch(tag))
        if not positions:
            return None
        columns = {int(_POSITION_TAG.fullmatch(tag).group(1)): self.series(tag) for tag in positions}
        frame = pd.DataFrame(columns).sort_index(axis=1)
        frame.index = frame.index.astype(int)
        return frame.dropna(how="all")

    # ----------------------------------------------------------- predictions
    @cached_property
    def predictions(self) -> pd.DataFrame:
        """Validation predictions of one decode, with an `error` column in `self.unit`."""
        frame = self.run.predictions
        if frame is None or not len(frame) or "split" not in frame:
            return pd.DataFrame()
        frame = frame[frame["split"] == "val"]
        decodes = set(frame["decode"]) if "decode" in frame else set()
        decode = next((d for d in DECODE_PREFERENCE if d in decodes), None)
        if decode is not None:
            frame = frame[frame["decode"] == decode]
        frame = frame.assign(error=frame["error_mm"] if self.unit == "mm" else frame["error_px"])
        return frame.reset_index(drop=True)

    @cached_property
    def unit(self) -> str:
        frame = self.run.predictions
        has_mm = frame is not None and "error_mm" in frame and np.isfinite(frame["error_mm"].to_numpy(float)).any()
        return "mm" if has_mm else "px"

    @cached_property
    def epochs(self) -> list[int]:
        return sorted(int(e) for e in self.predictions["epoch"].unique()) if len(self.predictions) else []

    def error_table(self) -> pd.DataFrame | None:
        """Mean validation error: one row per landmark (in landmark order), one column per epoch."""
        frame = self.predictions
        if not len(frame) or not np.isfinite(frame["error"].to_numpy(float)).any():
            return None
        table = frame.groupby(["landmark_index", "landmark", "epoch"])["error"].mean().unstack("epoch")
        table.index = [str(name) for _, name in table.index]
        table.columns = [int(c) for c in table.columns]
        return table

    def at_epoch(self, epoch: int) -> pd.DataFrame:
        return self.predictions[self.predictions["epoch"] == epoch]

    @property
    def last_epoch(self) -> int | None:
        return self.epochs[-1] if self.epochs else None

    def shown_epochs(self) -> list[tuple[int, str]]:
        """The epochs point figures show side by side: the best (when it has predictions) and the last."""
        if not self.epochs:
            return []
        last = self.epochs[-1]
        if self.best_epoch in self.epochs and self.best_epoch != last:
            return [(self.best_epoch, "best"), (last, "last")]
        return [(last, "best and last" if self.best_epoch == last else "last")]
