"""Signals from the learning curves: the metric's best and last, plateaus, the loss around them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import by_epoch, metric_curve, relative_slope, train_loss_by_epoch
from ceph_doctor.store.reader import Run

# A change smaller than this (relative) is noise, not an improvement: it ends no plateau.
MEANINGFUL_IMPROVEMENT = 0.01


@signal_family(
    "metric",
    provides=(
        "metric.name", "metric.first", "metric.best", "metric.best_epoch", "metric.last", "metric.last_epoch",
        "metric.improvement", "metric.rise_since_best", "metric.recent_rise", "metric.validations",
        "metric.validations_since_best", "metric.after_best_fraction", "metric.plateau_validations",
        "metric.plateau_slope",
    ),
)
def metric_signals(run: Run):
    curve = metric_curve(run)
    values = curve.values
    best_epoch = curve.best_epoch
    best, last, first = values[best_epoch], values.iloc[-1], values.iloc[0]
    last_epoch = int(values.index[-1])
    after_best = values[values.index > best_epoch]
    # The rise both of the last two validations share: one noisy validation does not count.
    recent = values.iloc[-2:] if len(after_best) >= 2 else values.iloc[-1:]
    recent_rise = min(curve.worse_by(v, best) for v in recent) if len(after_best) else 0.0
    plateau = plateau_length(values, curve)
    unit = curve.tag.rsplit("_", 1)[-1] if curve.tag.endswith(("_mm", "_px")) else ""
    yield Signal("metric.name", curve.tag, description="the validation metric the run monitored")
    yield Signal("metric.first", float(first), unit, int(values.index[0]))
    yield Signal("metric.best", float(best), unit, best_epoch)
    yield Signal("metric.best_epoch", best_epoch, "epoch", best_epoch)
    yield Signal("metric.last", float(last), unit, last_epoch)
    yield Signal("metric.last_epoch", last_epoch, "epoch", last_epoch)
    yield Signal("metric.improvement", float(-curve.worse_by(best, first)), "ratio", best_epoch,
                 "relative improvement from the first validation to the best")
    yield Signal("metric.rise_since_best", float(curve.worse_by(last, best)), "ratio", last_epoch,
                 "how much worse the last validation is than the best, relative")
    yield Signal("metric.recent_rise", float(recent_rise), "ratio", last_epoch,
                 "the worsening against the best shared by the last two validations")
    yield Signal("metric.validations", len(values), "validations")
    yield Signal("metric.validations_since_best", len(after_best), "validations", best_epoch)
    yield Signal("metric.after_best_fraction", (last_epoch - best_epoch) / max(last_epoch, 1), "ratio", best_epoch,
                 "share of the run spent after the best epoch")
    yield Signal("metric.plateau_validations", plateau, "validations", int(values.index[-plateau]) if plateau else None,
                 f"validations since the metric last improved by more than {MEANINGFUL_IMPROVEMENT:.0%}")
    yield Signal("metric.plateau_slope", relative_slope(values.iloc[-max(plateau, 3):]), "ratio/epoch", last_epoch)


def plateau_length(values: pd.Series, curve) -> int:
    """Trailing validations since the last meaningful improvement on the best so far."""
    best = values.iloc[0]
    since = 0
    for value in values.iloc[1:]:
        if np.isfinite(value) and curve.worse_by(value, best) < -MEANINGFUL_IMPROVEMENT:
            best, since = value, 0
        else:
            since += 1
    return since


@signal_family(
    "train_loss",
    provides=(
        "train_loss.first", "train_loss.last", "train_loss.last_over_first", "train_loss.min_over_first",
        "train_loss.recent_slope", "train_loss.change_since_best", "train_loss.rebound",
        "train_loss.nonfinite_steps", "train_loss.first_nonfinite_epoch", "train_loss.spikes",
        "train_loss.max_over_first",
    ),
)
def train_loss_signals(run: Run):
    epochs = train_loss_by_epoch(run)
    steps = run.scalar("train/loss")
    finite_epochs = epochs[np.isfinite(epochs)]
    nonfinite = steps[~np.isfinite(steps)]
    yield Signal("train_loss.nonfinite_steps", int(len(nonfinite)), "steps")
    if len(nonfinite):
        first_bad = run.scalars.loc[(run.scalars["tag"] == "train/loss") & ~np.isfinite(run.scalars["value"]), "epoch"]
        yield Signal("train_loss.first_nonfinite_epoch", int(first_bad.min()), "epoch", int(first_bad.min()))
    if finite_epochs.empty:
        return
    first, last = finite_epochs.iloc[0], finite_epochs.iloc[-1]
    yield Signal("train_loss.first", float(first), "", int(finite_epochs.index[0]))
    yield Signal("train_loss.last", float(last), "", int(finite_epochs.index[-1]))
    yield Signal("train_loss.last_over_first", float(last / first) if first else np.nan, "ratio")
    yield Signal("train_loss.min_over_first", float(finite_epochs.min() / first) if first else np.nan, "ratio")
    tail = finite_epochs.iloc[-max(3, len(finite_epochs) // 3):]
    yield Signal("train_loss.recent_slope", relative_slope(tail), "ratio/epoch", int(tail.index[-1]))
    # How far the loss climbed back above its lowest point so far (1.0 = never rose).
    running_min = finite_epochs.cummin()
    rebound = finite_epochs / running_min
    yield Signal("train_loss.rebound", float(rebound.max()), "ratio", int(rebound.idxmax()))
    finite_steps = steps[np.isfinite(steps)]
    if len(finite_steps) and finite_steps.iloc[0] > 0:
        yield Signal("train_loss.max_over_first", float(finite_steps.max() / finite_steps.iloc[0]), "ratio",
                     description="largest logged step loss over the first one (an exploding loss is ≫ 1)")
    baseline = finite_steps.rolling(20, min_periods=5).median().shift(1)
    yield Signal("train_loss.spikes", int((finite_steps > 5 * baseline).sum()), "steps",
                 description="steps whose loss exceeded 5x the median of the 20 before")
    try:
        curve = metric_curve(run)
    except MissingInput:
        return
    at_best = finite_epochs[finite_epochs.index <= curve.best_epoch]
    if len(at_best):
        reference = at_best.iloc[-1]
        yield Signal("train_loss.change_since_best", float((last - reference) / reference), "ratio",
                     curve.best_epoch, "relative change of the training loss since the metric's best epoch")


@signal_family("val_loss", provides=("val_loss.change_since_best",))
def val_loss_signals(run: Run):
    """The validation loss from the metric's best epoch to the last (teacher-forced where both exist)."""
    loss = by_epoch(run, "val/loss_tf")
    if loss.empty:
        loss = by_epoch(run, "val/loss")
    if loss.empty:
        raise MissingInput("the validation loss (val/loss) at each validation")
    curve = metric_curve(run)
    if curve.tag in ("val/loss", "val/loss_tf"):
        raise MissingInput("a landmark metric (val/mre_mm, val/pck@0.05…) beside the validation loss")
    before = loss[loss.index <= curve.best_epoch]
    if before.empty:
        return
    reference, last = before.iloc[-1], loss.iloc[-1]
    yield Signal("val_loss.change_since_best", float((last - reference) / abs(reference)), "ratio", curve.best_epoch,
                 "relative change of the validation loss since the metric's best epoch")


@signal_family("gap", provides=("gap.ratio", "gap.ratio_at_best", "gap.growth", "gap.train_change_since_best"))
def gap_signals(run: Run):
    """The same landmark metric on a fixed training subset and on validation."""
    curve = metric_curve(run)
    train_tag = "train/" + curve.tag.split("/", 1)[1]
    train = by_epoch(run, train_tag)
    if train.empty or curve.tag == "val/loss":
        raise MissingInput(f"the metric on a fixed training subset ({train_tag}), evaluated like validation")
    joint = pd.concat({"val": curve.values, "train": train}, axis=1).dropna()
    if joint.empty:
        return
    # Error-like metrics: val/train. Score-like (PCK): train/val. Either way > 1 means val is worse.
    ratio = joint["val"] / joint["train"] if curve.mode == "min" else joint["train"] / joint["val"]
    ratio = ratio.replace([np.inf, -np.inf], np.nan)
    best_epoch = curve.best_epoch if curve.best_epoch in ratio.index else int(ratio.index[0])
    yield Signal("gap.ratio", float(ratio.iloc[-1]), "ratio", int(ratio.index[-1]))
    yield Signal("gap.ratio_at_best", float(ratio[best_epoch]), "ratio", best_epoch)
    yield Signal("gap.growth", float(ratio.iloc[-1] / ratio[best_epoch]), "ratio", int(ratio.index[-1]),
                 "train/val gap at the last validation against the gap at the best epoch")
    train_change = curve.worse_by(joint["train"].iloc[-1], joint["train"][best_epoch])
    yield Signal("gap.train_change_since_best", float(train_change), "ratio", best_epoch,
                 "relative change of the training-subset metric since the best epoch (< 0: still improving)")
