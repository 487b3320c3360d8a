"""Curves that many signals read: the monitored metric per validation, the training loss per epoch.

Curves are numpy arrays, not pandas series: `analyze` measures hundreds of runs, and a signal
family costs microseconds this way where a few dozen pandas operations cost milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ceph_doctor.signals.base import MissingInput
from ceph_doctor.store.meaning import BOUNDED, parse
from ceph_doctor.store.monitor import best_of, monitor_of
from ceph_doctor.store.columns import PredictionTable, factorize, median_per
from ceph_doctor.store.reader import Run
from ceph_doctor.store.scalars import last_per


@dataclass(frozen=True)
class Curve:
    """`values[i]` was logged at `at[i]` (an epoch or a step); `at` ascends without repeats."""

    at: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.at)

    @property
    def empty(self) -> bool:
        return len(self.at) == 0

    @property
    def first(self) -> float:
        return float(self.values[0])

    @property
    def last(self) -> float:
        return float(self.values[-1])

    @property
    def first_at(self) -> int:
        return int(self.at[0])

    @property
    def last_at(self) -> int:
        return int(self.at[-1])

    def where(self, keep: np.ndarray) -> "Curve":
        return Curve(self.at[keep], self.values[keep])

    def finite(self) -> "Curve":
        return self.where(np.isfinite(self.values))

    def until(self, at: int) -> "Curve":
        return self.where(self.at <= at)

    def after(self, at: int) -> "Curve":
        return self.where(self.at > at)

    def tail(self, count: int) -> "Curve":
        return Curve(self.at[-count:], self.values[-count:]) if count > 0 else self.where(np.zeros(len(self), bool))

    def value_at(self, at: int) -> float:
        index = np.searchsorted(self.at, at)
        return float(self.values[index]) if index < len(self.at) and self.at[index] == at else np.nan

    def aligned(self, other: "Curve") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(at, self's values, other's values) where both logged a value that is not NaN."""
        at, mine, theirs = np.intersect1d(self.at, other.at, assume_unique=True, return_indices=True)
        a, b = self.values[mine], other.values[theirs]
        keep = ~np.isnan(a) & ~np.isnan(b)
        return at[keep], a[keep], b[keep]


@dataclass
class MetricCurve:
    tag: str
    mode: str  # "min" | "max"
    values: Curve  # one value per validation, by epoch
    scale: float | None = None  # a bounded score's full scale (1 or 100); None: changes relative to the value

    def worse_by(self, value: float, reference: float) -> float:
        """Worsening of `value` against `reference` (> 0 = worse), in the metric's direction: relative to
        the reference, or for a bounded score (PCK, AP, accuracy…) as a share of its full scale."""
        if not np.isfinite(value) or not np.isfinite(reference):
            return np.inf if not np.isfinite(value) else np.nan
        sign = 1.0 if self.mode == "min" else -1.0
        return sign * (value - reference) / (self.scale or max(abs(reference), 1e-12))

    def worse_by_each(self, values: np.ndarray, references: np.ndarray) -> np.ndarray:
        """`worse_by` element by element, in one pass."""
        sign = 1.0 if self.mode == "min" else -1.0
        scale = self.scale or np.maximum(np.abs(references), 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            change = sign * (values - references) / scale
        return np.where(~np.isfinite(values), np.inf, np.where(~np.isfinite(references), np.nan, change))

    @property
    def best_epoch(self) -> int:
        """The monitor's best epoch (`store.monitor.best_of`); the first epoch when nothing is finite."""
        best = best_of(self.values.at, self.values.values, self.mode)
        return self.values.first_at if best is None else best[0]


def by_epoch(run: Run, tag: str) -> Curve:
    """One value per epoch for `tag` (the last logged in that epoch)."""
    key = ("by_epoch", tag)
    if key not in run.memo:
        rows = run.series(tag)
        run.memo[key] = Curve(*last_per(rows.epoch, rows.value))
    return run.memo[key]


def by_step(run: Run, tag: str) -> Curve:
    """One value per step for `tag` (the last logged at that step)."""
    key = ("by_step", tag)
    if key not in run.memo:
        rows = run.series(tag)
        run.memo[key] = Curve(*last_per(rows.step, rows.value))
    return run.memo[key]


def metric_curve(run: Run) -> MetricCurve:
    if "metric_curve" not in run.memo:
        run.memo["metric_curve"] = find_metric_curve(run)
    return run.memo["metric_curve"]


def find_metric_curve(run: Run) -> MetricCurve:
    monitor = monitor_of(run)
    if monitor is None:
        raise MissingInput("a validation metric or loss per epoch (no logged name is one; see --show-names, --map)")
    values = by_epoch(run, monitor.metric)
    scale = None
    if parse(monitor.metric).quantity in BOUNDED:
        finite = np.abs(values.values[np.isfinite(values.values)])
        scale = 100.0 if len(finite) and finite.max() > 1.0 else 1.0
    return MetricCurve(monitor.metric, monitor.mode, values, scale)


def train_loss_tag(run: Run) -> str:
    """The training loss whose level means the same all run long: a sequence decoder's teacher-forced
    loss where logged (under scheduled sampling the optimised loss rises as teacher forcing is withdrawn)."""
    return "train/loss_tf" if len(run.series("train/loss_tf")) else "train/loss"


def train_loss_by_epoch(run: Run) -> Curve:
    """The mean training loss of each epoch (NaN steps left out, as pandas' mean does; inf kept).

    Where the trainer logged its own epoch mean (Lightning's `train_loss_epoch`), that one: it averages
    every step, where the logged steps may be a sample of them."""
    logged_mean = by_epoch(run, train_loss_tag(run) + "_epoch")
    if len(logged_mean):
        return logged_mean
    rows = run.series(train_loss_tag(run))
    if not len(rows):
        raise MissingInput("the training loss (train/loss) per step or epoch")
    order = np.argsort(rows.epoch, kind="stable")
    epochs, values = rows.epoch[order], rows.value[order]
    starts = np.flatnonzero(np.r_[True, epochs[1:] != epochs[:-1]])
    counted = ~np.isnan(values)
    sums = np.add.reduceat(np.where(counted, values, 0.0), starts)
    counts = np.add.reduceat(counted.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Curve(epochs[starts], means)


def typical_epoch_loss(run: Run) -> Curve:
    """The training loss's level per epoch: the trainer's own epoch mean where logged (exact), else the
    median of the logged steps where an epoch has at least 3 of them (robust to one hard batch), else
    the epoch's mean."""
    if len(by_epoch(run, train_loss_tag(run) + "_epoch")):
        return train_loss_by_epoch(run)
    rows = run.series(train_loss_tag(run))
    epochs, counts = np.unique(rows.epoch, return_counts=True)
    if len(epochs) == 0 or counts.min() < 3:
        return train_loss_by_epoch(run)
    epochs, medians = median_per(rows.epoch, rows.value)
    return Curve(epochs, medians).where(~np.isnan(medians))  # an epoch of NaN steps only has no level


# Predictions made from the model's own by a later step (test-time augmentation, a refinement stage),
# judged against it.
DERIVED_DECODES = ("tta", "refined")


def val_predictions(run: Run, decode: str | None = None) -> PredictionTable:
    """The validation rows of one decode (by default the model's own answer); kept on the run, since several
    signal families read them."""
    key = ("val_predictions", decode)
    if key not in run.memo:
        run.memo[key] = _val_predictions(run, decode)
    return run.memo[key]


def _val_predictions(run: Run, decode: str | None) -> PredictionTable:
    table = run.prediction_table
    if table.empty or "split" not in table:
        raise MissingInput("per-landmark predictions at each validation (the Recorder's predictions, or pred=/gt= debug lines)")
    table = table.where(split="val")
    if decode is None:  # the model's own answer: as inference runs it, before test-time augmentation or refinement
        decode = plain_decode(table)
        if decode is None:
            raise MissingInput("validation predictions without test-time augmentation or refinement")
    return table.where(decode=decode)


def plain_decode(table: PredictionTable) -> str | None:
    """The decode of the model's own answer among the table's rows (a sequence decoder's autoregressive one where
    there are several), None where every row was remade by a later step."""
    decodes = [name for name in factorize(table["decode"], sort=False)[1].tolist() if name not in DERIVED_DECODES]
    if not decodes:
        return None
    return "autoregressive" if "autoregressive" in decodes else decodes[0]


def relative_slope(curve: Curve) -> float:
    """Least-squares slope per epoch, relative to the mean level (−0.05 = falling 5 % per epoch)."""
    curve = curve.finite()
    if len(curve) < 2:
        return np.nan
    x, y = curve.at.astype(float), curve.values
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope / max(abs(float(y.mean())), 1e-12)
