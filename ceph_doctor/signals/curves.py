"""Signals from the learning curves: the metric's best and last, plateaus, the loss around them."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.noise import (
    MEANINGFUL_IMPROVEMENT, SPIKE_FACTOR, SPIKE_WINDOW, count_spikes, plateau_of,
)
from ceph_doctor.signals.series import (
    by_epoch, by_step, metric_curve, relative_slope, train_loss_by_epoch, train_loss_tag, typical_epoch_loss,
)
from ceph_doctor.store.monitor import in_pixels, value_unit
from ceph_doctor.store.reader import Run


@signal_family(
    "metric",
    provides=(
        "metric.name", "metric.first", "metric.best", "metric.best_epoch", "metric.last", "metric.last_epoch",
        "metric.improvement", "metric.rise_since_best", "metric.recent_rise", "metric.validations",
        "metric.validations_since_best", "metric.after_best_fraction", "metric.plateau_validations",
        "metric.plateau_slope", "metric.best_px",
    ),
)
def metric_signals(run: Run):
    curve = metric_curve(run)
    values = curve.values
    best_epoch = curve.best_epoch
    best, last, first = values.value_at(best_epoch), values.last, values.first
    last_epoch = values.last_at
    after_best = values.after(best_epoch)
    # The rise both of the last two validations share: one noisy validation does not count.
    recent = values.tail(2) if len(after_best) >= 2 else values.tail(1)
    recent_rise = min(curve.worse_by(v, best) for v in recent.values) if len(after_best) else 0.0
    plateau = plateau_of(run, curve)
    unit = value_unit(curve.tag, run.series(curve.tag).value)
    yield Signal("metric.name", curve.tag, description="the validation metric the run monitored")
    yield Signal("metric.first", first, unit, values.first_at)
    yield Signal("metric.best", best, unit, best_epoch)
    yield Signal("metric.best_epoch", best_epoch, "epoch", best_epoch)
    yield Signal("metric.last", last, unit, last_epoch)
    yield Signal("metric.last_epoch", last_epoch, "epoch", last_epoch)
    yield Signal("metric.improvement", float(-curve.worse_by(best, first)), "change", best_epoch,
                 "relative improvement from the first validation to the best")
    yield Signal("metric.rise_since_best", float(curve.worse_by(last, best)), "change", last_epoch,
                 "how much worse the last validation is than the best, relative")
    yield Signal("metric.recent_rise", float(recent_rise), "change", last_epoch,
                 "the worsening against the best shared by the last two validations")
    yield Signal("metric.validations", len(values), "validations")
    yield Signal("metric.validations_since_best", len(after_best), "validations", best_epoch)
    yield Signal("metric.after_best_fraction", (last_epoch - best_epoch) / max(last_epoch, 1), "share", best_epoch,
                 "share of the run spent after the best epoch")
    yield Signal("metric.plateau_validations", plateau, "validations", int(values.at[-plateau]) if plateau else None,
                 f"trailing validations whose best beats the best before them by less than {MEANINGFUL_IMPROVEMENT:.0%} "
                 "and less than the metric's own noise")
    yield Signal("metric.plateau_slope", relative_slope(values.tail(max(plateau, 3))), "change/epoch", last_epoch)
    restated = in_pixels(run, best)
    if restated:
        yield Signal("metric.best_px", restated[0], "px", best_epoch, f"the best value in input pixels: {restated[1]}")


@signal_family(
    "train_loss",
    provides=(
        "train_loss.first", "train_loss.last", "train_loss.last_over_first", "train_loss.min_over_first",
        "train_loss.recent_slope", "train_loss.change_since_best", "train_loss.rebound",
        "train_loss.nonfinite_steps", "train_loss.first_nonfinite_epoch", "train_loss.spikes",
        "train_loss.max_over_first", "train_loss.change_over_plateau", "train_loss.rebound_sigmas",
    ),
)
def train_loss_signals(run: Run):
    epochs = train_loss_by_epoch(run)
    tag = train_loss_tag(run)
    steps = by_step(run, tag)
    finite_epochs = epochs.finite()
    yield Signal("train_loss.nonfinite_steps", int((~np.isfinite(steps.values)).sum()), "steps")
    rows = run.series(tag)
    bad_epochs = rows.epoch[~np.isfinite(rows.value)]
    if len(bad_epochs):
        yield Signal("train_loss.first_nonfinite_epoch", int(bad_epochs.min()), "epoch", int(bad_epochs.min()))
    if finite_epochs.empty:
        return
    first, last = finite_epochs.first, finite_epochs.last
    yield Signal("train_loss.first", first, "", finite_epochs.first_at)
    yield Signal("train_loss.last", last, "", finite_epochs.last_at)
    yield Signal("train_loss.last_over_first", last / first if first else np.nan, "×")
    yield Signal("train_loss.min_over_first", float(finite_epochs.values.min()) / first if first else np.nan, "×")
    tail = finite_epochs.tail(max(3, len(finite_epochs) // 3))
    yield Signal("train_loss.recent_slope", relative_slope(tail), "change/epoch", tail.last_at)
    # How far the loss climbed back above its lowest point so far (1.0 = never rose). Per epoch, the
    # median of its logged steps where it has several: one hard batch moves a mean, not the loss level.
    typical = typical_epoch_loss(run).finite()
    with np.errstate(invalid="ignore", divide="ignore"):
        rebound = typical.values / np.minimum.accumulate(typical.values)
    if len(rebound) and not np.isnan(rebound).all():
        worst = int(np.nanargmax(rebound))
        yield Signal("train_loss.rebound", float(rebound[worst]), "×", int(typical.at[worst]))
        steps_in_log = np.diff(np.log(typical.values[typical.values > 0]))
        if len(steps_in_log) >= 3:
            noise = 1.4826 * float(np.median(np.abs(steps_in_log - np.median(steps_in_log))))
            yield Signal("train_loss.rebound_sigmas", float(np.log(rebound[worst]) / max(noise, 1e-12)), "sigmas",
                         int(typical.at[worst]), "the rebound in robust standard deviations of the loss's own "
                                                 "epoch-to-epoch changes (log scale)")
    finite_steps = steps.finite().values
    if len(finite_steps) and finite_steps[0] > 0:
        yield Signal("train_loss.max_over_first", float(finite_steps.max() / finite_steps[0]), "×",
                     description="largest logged step loss over the first one (an exploding loss is ≫ 1)")
    yield Signal("train_loss.spikes", count_spikes(finite_steps), "steps",
                 description=f"steps whose loss exceeded {SPIKE_FACTOR:g}x the median of the {SPIKE_WINDOW} before, "
                             "beyond the loss's own step-to-step noise")
    try:
        curve = metric_curve(run)
    except MissingInput:
        return
    at_best = finite_epochs.until(curve.best_epoch)
    if len(at_best):
        reference = at_best.last
        yield Signal("train_loss.change_since_best", (last - reference) / reference, "change",
                     curve.best_epoch, "relative change of the training loss since the metric's best epoch")
    plateau = plateau_of(run, curve)
    if 0 < plateau < len(curve.values):
        began = int(curve.values.at[-plateau - 1])  # the last validation before the stretch without progress
        before = finite_epochs.until(began)
        if len(before) and before.last > 0:
            yield Signal("train_loss.change_over_plateau", (last - before.last) / before.last, "change", began,
                         "relative change of the training loss while the metric made no progress")


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
    before = loss.until(curve.best_epoch)
    if before.empty:
        return
    reference, last = before.last, loss.last
    yield Signal("val_loss.change_since_best", (last - reference) / abs(reference), "change", curve.best_epoch,
                 "relative change of the validation loss since the metric's best epoch")


@signal_family("gap", provides=("gap.ratio", "gap.ratio_at_best", "gap.growth", "gap.train_change_since_best"))
def gap_signals(run: Run):
    """The same landmark metric on a fixed training subset and on validation."""
    curve = metric_curve(run)
    train_tag = "train/" + curve.tag.split("/", 1)[1]
    train = by_epoch(run, train_tag)
    if train.empty or curve.tag == "val/loss":
        raise MissingInput(f"the metric on a fixed training subset ({train_tag}), evaluated like validation")
    epochs, val_values, train_values = curve.values.aligned(train)
    if len(epochs) == 0:
        return
    # Error-like metrics: val/train. Score-like (PCK): train/val. Either way > 1 means val is worse.
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = val_values / train_values if curve.mode == "min" else train_values / val_values
    ratio = np.where(np.isinf(ratio), np.nan, ratio)
    best = int(np.flatnonzero(epochs == curve.best_epoch)[0]) if curve.best_epoch in epochs else 0
    yield Signal("gap.ratio", float(ratio[-1]), "×", int(epochs[-1]))
    yield Signal("gap.ratio_at_best", float(ratio[best]), "×", int(epochs[best]))
    yield Signal("gap.growth", float(ratio[-1] / ratio[best]), "×", int(epochs[-1]),
                 "train/val gap at the last validation against the gap at the best epoch")
    train_change = curve.worse_by(float(train_values[-1]), float(train_values[best]))
    yield Signal("gap.train_change_since_best", float(train_change), "change", int(epochs[best]),
                 "relative change of the training-subset metric since the best epoch (< 0: still improving)")
