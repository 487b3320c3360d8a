"""Signals from the heatmaps a model predicts: how tall and how wide their peaks are."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import val_predictions
from ceph_doctor.store.reader import Run


@signal_family(
    "heatmap",
    provides=("heatmap.sigma", "heatmap.peak", "heatmap.peak_max", "heatmap.width", "heatmap.width_over_sigma"),
)
def heatmap_signals(run: Run):
    frame = val_predictions(run)
    if "peak" not in frame or frame["peak"].isna().all():
        raise MissingInput("heatmap peak values and widths per prediction (heatmap models only)")
    sigma = (run.manifest.get("codec") or {}).get("sigma") or ((run.config or {}).get("codec") or {}).get("sigma")
    if sigma is None:
        raise MissingInput("the heatmap codec's sigma (codec.sigma in the config)")
    per_epoch = frame.groupby("epoch")[["peak", "peak_width"]].median().sort_index()
    epoch = int(per_epoch.index[-1])
    width = float(per_epoch["peak_width"].iloc[-1])
    yield Signal("heatmap.sigma", float(sigma), "heatmap px", description="the Gaussian targets' sigma")
    yield Signal("heatmap.peak", float(per_epoch["peak"].iloc[-1]), "", epoch,
                 "median predicted peak value (targets peak at 1.0)")
    yield Signal("heatmap.peak_max", float(per_epoch["peak"].max()), "", int(per_epoch["peak"].idxmax()))
    yield Signal("heatmap.width", width, "heatmap px", epoch, "median predicted peak width")
    yield Signal("heatmap.width_over_sigma", width / sigma if np.isfinite(width) else np.nan, "ratio", epoch)
