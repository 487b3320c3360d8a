"""Signals from the heatmaps a model predicts: how tall and how wide their peaks are.

The peaks come from the recorded predictions (their peak value and width), or, for a log that
only printed them, from a logged heatmap maximum (`hm_max`, `heatmap/peak`, MMPose's `maxvals`…).
The target sigma comes from the run's config or a logged sigma; without one, the peak heights
still say whether the model learned to peak at all (targets peak at 1.0).
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, NotApplicable, Signal, signal_family, switched_off
from ceph_doctor.signals.series import Curve, by_epoch, val_predictions
from ceph_doctor.store.columns import median_per
from ceph_doctor.store.reader import Run

PEAK_TAGS = ("val/heatmap_peak", "train/heatmap_peak")


@signal_family(
    "heatmap",
    provides=("heatmap.sigma", "heatmap.peak", "heatmap.peak_max", "heatmap.width", "heatmap.width_over_sigma",
              "heatmap.validations"),
)
def heatmap_signals(run: Run):
    if switched_off(run, "model.head", lambda head: head != "heatmap"):
        raise NotApplicable("the model's head outputs points, not heatmaps (model.head)")
    peaks, widths = recorded_peaks(run)
    if peaks is None:
        raise MissingInput("heatmap peak values per validation (the Recorder's predictions, or a logged heatmap "
                           "maximum such as hm_max; heatmap models only)")
    sigma = target_sigma(run)
    epoch = peaks.last_at
    if sigma is not None:
        yield Signal("heatmap.sigma", float(sigma), "heatmap px", description="the Gaussian targets' sigma")
    yield Signal("heatmap.peak", peaks.last, "", epoch, "median predicted peak value (targets peak at 1.0)")
    best = int(np.nanargmax(peaks.values)) if np.isfinite(peaks.values).any() else 0
    yield Signal("heatmap.peak_max", float(peaks.values[best]), "", int(peaks.at[best]),
                 "the highest median peak of any validation")
    yield Signal("heatmap.validations", len(peaks), "validations")
    if widths is not None and len(widths):
        width = widths.last
        yield Signal("heatmap.width", width, "heatmap px", epoch, "median predicted peak width")
        if sigma:
            yield Signal("heatmap.width_over_sigma", width / sigma if np.isfinite(width) else np.nan, "×", epoch)


def recorded_peaks(run: Run) -> tuple[Curve | None, Curve | None]:
    """(median peak per validation, median width per validation), from predictions or logged scalars."""
    try:
        table = val_predictions(run)
    except MissingInput:
        table = None
    if table is not None and "peak" in table and not np.isnan(table.floats("peak")).all():
        at, peaks = median_per(table["epoch"], table.floats("peak"))
        _, widths = median_per(table["epoch"], table.floats("peak_width"))
        return Curve(at.astype(np.int64), peaks), Curve(at.astype(np.int64), widths)
    for tag in PEAK_TAGS:
        curve = by_epoch(run, tag)
        if len(curve):
            return curve, None
    return None, None


def target_sigma(run: Run) -> float | None:
    sigma = ((run.config or {}).get("codec") or {}).get("sigma")
    if sigma is None:
        logged = by_epoch(run, "codec/sigma")
        sigma = logged.last if len(logged) else None
    return float(sigma) if sigma is not None else None
