"""Stage 5's probe: the metric recomputed from its definition, and which box it normalised by."""

from __future__ import annotations

import numpy as np

from ceph_doctor.sanity.evidence import point_distance

# -- stage 5: the metric recomputed from its definition ------------------------------------------------
def documented_pck(pred: np.ndarray, truth: np.ndarray, alpha: float) -> float:
    """PCK@alpha in %, as ceph_doctor.metrics documents it, written out again from the errors.

    Error over the longer side of the image's truth-landmark box, counted when < alpha; per landmark over
    images, then the mean over landmarks. Independent code on purpose: it is the reference for the metric.
    """
    visible = np.isfinite(truth).all(axis=-1)
    errors = np.where(visible, point_distance(pred, truth), np.nan)
    box = _landmark_box_sides(truth)
    counted = visible & (box.max(axis=-1) > 0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        correct = errors / box.max(axis=-1)[:, None] < alpha
    per_landmark = [correct[counted[:, k], k].mean() for k in range(truth.shape[1]) if counted[:, k].any()]
    return 100.0 * float(np.mean(per_landmark)) if per_landmark else np.nan


def implied_box(pred: np.ndarray, truth: np.ndarray, metric: float, alpha: float) -> tuple[float, float, float]:
    """From how many probe points the metric counted, the range of box sizes it must have divided by.

    The probe's rows share one truth, so the box is one number; returns (low, high, documented box).
    """
    visible = np.isfinite(truth).all(axis=-1)
    errors = np.sort(point_distance(pred, truth)[visible])
    count = int(round(metric / 100.0 * errors.size))
    low = errors[count - 1] / alpha if count > 0 else 0.0
    high = errors[count] / alpha if count < errors.size else np.inf
    return float(low), float(high), float(_landmark_box_sides(truth)[0].max())


def metric_box_candidates(truth: np.ndarray, input_size, original_size) -> dict[str, float]:
    """Boxes a metric is known to be normalised by in error, by what they are."""
    sides = _landmark_box_sides(truth)[0]
    candidates = {"the landmark box's diagonal": float(np.hypot(*sides))}
    if original_size is not None:
        candidates["the original image's longer side"] = float(max(original_size))
    if input_size is not None:
        candidates["the resized input image's longer side (the input frame, not the original)"] = float(max(input_size))
        if original_size is not None:
            scale = np.asarray(input_size, np.float64) / np.asarray(original_size, np.float64)
            candidates["the landmark box in input px rather than original px"] = float((sides * scale).max())
    return candidates


def _landmark_box_sides(truth: np.ndarray) -> np.ndarray:
    """(N, 2) width and height of each image's visible truth landmarks."""
    visible = np.isfinite(truth).all(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        high = np.where(visible, truth, -np.inf).max(axis=1)
        low = np.where(visible, truth, np.inf).min(axis=1)
    return np.where(np.isfinite(high - low), high - low, 0.0)
