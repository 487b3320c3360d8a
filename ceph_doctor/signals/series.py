"""Curves that many signals read: the monitored metric per validation, the training loss per epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ceph_doctor.signals.base import MissingInput
from ceph_doctor.store.reader import Run

# Validation metrics in order of preference when the run does not name the one it monitored.
METRIC_PREFERENCE = (
    ("val/mre_mm", "min"),
    ("val/mre_px", "min"),
    ("val/nme", "min"),
    ("val/pck@0.05", "max"),
    ("val/loss", "min"),
)


@dataclass
class MetricCurve:
    tag: str
    mode: str  # "min" | "max"
    values: pd.Series  # indexed by epoch, one value per validation

    def worse_by(self, value: float, reference: float) -> float:
        """Relative worsening of `value` against `reference` (> 0 = worse), in the metric's direction."""
        if not np.isfinite(value) or not np.isfinite(reference):
            return np.inf if not np.isfinite(value) else np.nan
        sign = 1.0 if self.mode == "min" else -1.0
        return sign * (value - reference) / max(abs(reference), 1e-12)

    @property
    def best_epoch(self) -> int:
        finite = self.values[np.isfinite(self.values)]
        if finite.empty:
            return int(self.values.index[0])
        return int(finite.idxmin() if self.mode == "min" else finite.idxmax())


def by_epoch(run: Run, tag: str) -> pd.Series:
    """One value per epoch for `tag` (the last logged in that epoch), indexed by epoch."""
    rows = run.scalars[run.scalars["tag"] == tag]
    return rows.groupby("epoch")["value"].last().sort_index()


def metric_curve(run: Run) -> MetricCurve:
    monitor = run.manifest.get("monitor") or {}
    candidates = [(monitor["metric"], monitor["mode"])] if "metric" in monitor else []
    for tag, mode in [*candidates, *METRIC_PREFERENCE]:
        values = by_epoch(run, tag)
        if len(values):
            return MetricCurve(tag, mode, values)
    raise MissingInput("a validation metric per epoch (val/mre_mm, val/mre_px, val/nme, val/pck@0.05 or val/loss)")


def train_loss_by_epoch(run: Run) -> pd.Series:
    rows = run.scalars[run.scalars["tag"] == "train/loss"]
    if rows.empty:
        raise MissingInput("the training loss (train/loss) per step or epoch")
    return rows.groupby("epoch")["value"].mean().sort_index()


def val_predictions(run: Run, decode: str | None = None) -> pd.DataFrame:
    frame = run.predictions
    if frame.empty or "split" not in frame:
        raise MissingInput("per-landmark predictions at each validation (the Recorder's predictions, or pred=/gt= debug lines)")
    frame = frame[frame["split"] == "val"]
    if decode is None:
        decode = "autoregressive" if (frame["decode"] == "autoregressive").any() else frame["decode"].iloc[0]
    return frame[frame["decode"] == decode]


def relative_slope(values: pd.Series) -> float:
    """Least-squares slope per epoch, relative to the mean level (−0.05 = falling 5 % per epoch)."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return np.nan
    slope = np.polyfit(values.index.to_numpy(float), values.to_numpy(float), 1)[0]
    return float(slope / max(abs(values.mean()), 1e-12))
