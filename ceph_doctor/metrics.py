"""Landmark accuracy metrics: radial error, SDR, PCK and NME, overall and per landmark.

All inputs are in original-image pixels. A NaN in the truth means the landmark
is not visible on that image: it is left out of every metric. A prediction that
is not finite while the truth is visible counts as an infinite error (a miss),
so a diverged model cannot look good by having its bad points dropped.

Definitions, and where they come from:

* ``mre_mm`` / ``mre_px``: mean radial (Euclidean) error over all visible points
  of all images, pooled (ISBI 2015: Wang et al. 2016, Med. Image Anal. 31:63).
* ``sd_mm``: the sample standard deviation (N - 1) of those errors, as in the
  ISBI 2015 paper.
* ``sdr_<z>mm``: success detection rate, the percentage of visible points with
  radial error <= z mm (ISBI 2015; the CL-Detection 2023 MMPose metric also
  counts equality as a success).
* ``pck@<a>``: as MMPose's PCKAccuracy: the error divided by the longer side of
  the image's box, counted when strictly ``< a``; the per-landmark accuracy over
  images, then its mean over landmarks that have any visible point, in %. The
  box is the bounding box of the image's visible true landmarks (cephalograms
  have no person box); an image whose box is empty (fewer than two distinct
  points) is left out, as MMPose leaves out a zero normaliser.
* ``nme``: as MMPose's NME: normalised errors averaged over all visible points,
  as a fraction (not %). Cephalograms have no inter-ocular distance, so the
  normaliser is the diagonal of the same landmark bounding box: it does not
  depend on image size, resolution or aspect ratio.

The mm keys appear only when every image has a known pixel spacing: a mean over
the images that happen to have one would not be comparable across epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class MetricReport:
    """``overall``: metric name → value; ``per_landmark``: one row per landmark, same columns."""

    overall: dict[str, float]
    per_landmark: "pd.DataFrame"


def sdr_key(threshold_mm: float) -> str:
    return f"sdr_{threshold_mm:g}mm"


def pck_key(alpha: float) -> str:
    return f"pck@{alpha:g}"


def point_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, K) Euclidean error in px; NaN where the truth is missing, inf where only the prediction is."""
    pred, true = _as_points(pred, "pred"), _as_points(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"pred {pred.shape} and true {true.shape} differ in shape")
    visible = np.isfinite(true).all(axis=-1)
    with np.errstate(invalid="ignore"):
        errors = np.hypot(*np.moveaxis(pred - true, -1, 0))
    errors = np.where(np.isfinite(errors), errors, np.inf)
    return np.where(visible, errors, np.nan)


def landmark_metrics(
    pred: np.ndarray,
    true: np.ndarray,
    spacing_mm: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    sdr_thresholds_mm: Sequence[float] = (2.0, 2.5, 3.0, 4.0),
    pck_alpha: float = 0.05,
) -> MetricReport:
    """Metrics of (N, K, 2) predictions against the truth; ``spacing_mm`` is (N,) mm per px."""
    errors_px = point_errors(pred, true)
    true = _as_points(true, "true")
    n_images, n_landmarks = errors_px.shape
    names = [f"landmark_{k}" for k in range(n_landmarks)] if names is None else list(names)
    if len(names) != n_landmarks:
        raise ValueError(f"{len(names)} names for {n_landmarks} landmarks")
    visible = ~np.isnan(errors_px)

    overall: dict[str, float] = {}
    per_landmark: dict[str, np.ndarray] = {}

    spacing = _known_spacing(spacing_mm, n_images)
    if spacing is not None:
        errors_mm = errors_px * spacing[:, None]
        overall["mre_mm"], per_landmark["mre_mm"] = _both(_mean, errors_mm, visible)
        overall["sd_mm"], per_landmark["sd_mm"] = _both(_sample_std, errors_mm, visible)
        for threshold in sdr_thresholds_mm:
            success = errors_mm <= threshold
            overall[sdr_key(threshold)], per_landmark[sdr_key(threshold)] = _both(_rate, success, visible)

    overall["mre_px"], per_landmark["mre_px"] = _both(_mean, errors_px, visible)

    longer_side, diagonal = _landmark_box(true, visible)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN box sizes are masked out below
        correct = errors_px / longer_side[:, None] < pck_alpha
        normalised = errors_px / diagonal[:, None]
    pck_per_landmark = _rate(correct, visible & (longer_side > 0)[:, None], axis=0)
    per_landmark[pck_key(pck_alpha)] = pck_per_landmark
    # MMPose averages PCK over landmarks (each over its images), not over pooled points.
    overall[pck_key(pck_alpha)] = _mean(pck_per_landmark, ~np.isnan(pck_per_landmark))
    overall["nme"], per_landmark["nme"] = _both(_mean, normalised, visible & (diagonal > 0)[:, None])

    import pandas as pd  # here: `analyze` imports this module for its point errors alone

    table = pd.DataFrame(per_landmark, index=pd.Index(names, name="landmark"))
    return MetricReport({key: float(value) for key, value in overall.items()}, table)


# -- helpers ---------------------------------------------------------------------


def _as_points(points: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 3 or array.shape[-1] != 2:
        raise ValueError(f"{what} must have shape (N, K, 2), got {array.shape}")
    return array


def _known_spacing(spacing_mm: np.ndarray | None, n_images: int) -> np.ndarray | None:
    """The (N,) spacing when every image has a positive one, else None."""
    if spacing_mm is None:
        return None
    spacing = np.asarray(spacing_mm, dtype=np.float64).reshape(-1)
    if spacing.shape != (n_images,):
        raise ValueError(f"spacing_mm has {spacing.size} values for {n_images} images")
    with np.errstate(invalid="ignore"):
        return spacing if n_images and np.all(spacing > 0) and np.all(np.isfinite(spacing)) else None


def _landmark_box(true: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the longer side and the diagonal of the visible truths' bounding box (NaN if none)."""
    low = np.where(visible[..., None], true, np.inf).min(axis=1, initial=np.inf)
    high = np.where(visible[..., None], true, -np.inf).max(axis=1, initial=-np.inf)
    has_points = visible.any(axis=1)
    extent = np.where(has_points[:, None], high - low, np.nan)
    return extent.max(axis=1), np.hypot(extent[:, 0], extent[:, 1])


def _both(statistic, values: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    """The statistic over all counted points, and per landmark (over images)."""
    return statistic(values, mask, axis=None), statistic(values, mask, axis=0)


def _mean(values: np.ndarray, mask: np.ndarray, axis: int | None = None):
    count = mask.sum(axis=axis)
    total = np.where(mask, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _sample_std(values: np.ndarray, mask: np.ndarray, axis: int | None = None):
    count = mask.sum(axis=axis)
    mean = _mean(values, mask, axis)
    with np.errstate(invalid="ignore"):
        squares = np.where(mask, (values - mean) ** 2, 0.0).sum(axis=axis)
        return np.where(count > 1, np.sqrt(squares / np.maximum(count - 1, 1)), np.nan)


def _rate(success: np.ndarray, mask: np.ndarray, axis: int | None = None):
    """Percentage of counted points that succeed."""
    return 100.0 * _mean(success.astype(np.float64), mask, axis)
