"""The overfit check's measurements: signals from recorded evidence, one family per stage, no verdicts.

The stages follow the inference path in order: the loss (can it learn at all?), the heatmaps (do peaks
form where the targets are?), decoding (sub-pixel, in heatmap px), the map back to original pixels, the
metric, and for sequence decoders autoregressive against teacher-forced decoding. Each family is named
`sanity.<family>.<measurement>`; the heatmap targets' width and the predicted peak height are measured
under the analysis signals' names (`heatmap.sigma`, `heatmap.peak`) so the analysis rule about them
judges both. What passes, and why a stage fails, is said in `rules/sanity/` (engine/stage_rules.py).

A tolerance below defines what "within" means for a measurement; it is not a verdict's threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ceph_doctor.sanity.evidence import (
    Evidence, argmax_yx, fraction, nanmax, original_per_input, point_distance, worst_landmark,
)
from ceph_doctor.sanity.frames import frame_fit
from ceph_doctor.sanity.metric_probe import documented_pck, implied_box, metric_box_candidates

# Argmax of prediction and target within this many heatmap px (8-neighbourhood):
# a true position between two pixels can round either way.
ARGMAX_TOLERANCE_HM = 1
# Sub-pixel: a decoded prediction within this distance (heatmap px) of the decoded target.
DECODE_TOLERANCE_HM = 1.0
PCK_ALPHA = 0.05
LAST_STEPS = 10  # the final loss is the median of these: it shrugs off a last spike
BOX_MATCH = 0.02  # a known box within 2 % of the range the metric implies names it


def measure(ev: Evidence) -> dict[str, Any]:
    """Every family the evidence allows, as signal name → value."""
    values = {**loss(ev), **targets(ev), **decoded(ev), **original(ev), **metric(ev)}
    if ev.pred_heatmaps is not None and ev.target_heatmaps is not None:
        values.update(heatmap_peaks(ev))
    if ev.autoregressive is not None and ev.teacher_forced is not None:
        values.update(autoregressive(ev))
    return values


def loss(ev: Evidence) -> dict[str, Any]:
    losses = np.asarray(ev.losses, np.float64)
    initial, final = float(losses[0]), float(np.median(losses[-LAST_STEPS:]))
    return _family("loss", initial_loss=initial, final_loss=final, steps=len(losses),
                   ratio=final / initial if initial > 0 else np.nan, finite=bool(np.isfinite(losses).all()),
                   eval_mode_loss=ev.eval_loss, eval_over_final=ev.eval_loss / final if final > 0 else np.nan,
                   trainable_fraction=ev.trainable_fraction, changed_fraction=ev.changed_fraction)


def targets(ev: Evidence) -> dict[str, Any]:
    """The heatmap targets' width and the predicted peaks' median height, as the analysis signals name them."""
    values: dict[str, Any] = {}
    width = target_width(ev)
    if width is not None:
        values["heatmap.sigma"] = width
    if ev.pred_heatmaps is not None and ev.target_heatmaps is not None:
        has_target = _has_target(ev)
        if has_target.any():
            values["heatmap.peak"] = float(np.median(ev.pred_heatmaps.max(axis=(-2, -1))[has_target]))
    return values


def heatmap_peaks(ev: Evidence) -> dict[str, Any]:
    pred, target = argmax_yx(ev.pred_heatmaps), argmax_yx(ev.target_heatmaps)
    distance = np.abs(pred - target).max(axis=-1).astype(np.float64)  # Chebyshev, heatmap px
    has_target = _has_target(ev)
    distance[~has_target] = np.nan
    return _family("heatmaps", fraction_within=fraction(distance <= ARGMAX_TOLERANCE_HM, has_target),
                   tolerance_hm=ARGMAX_TOLERANCE_HM, max_distance_hm=nanmax(distance),
                   worst=worst_landmark(ev, distance))


def decoded(ev: Evidence) -> dict[str, Any]:
    distance = point_distance(ev.pred_input, ev.target_input) / ev.stride
    visible = ev.annotated & np.isfinite(ev.target_input).all(axis=-1)
    shown = np.where(visible, distance, np.nan)
    return _family("decode", fraction_within=fraction(distance <= DECODE_TOLERANCE_HM, visible),
                   tolerance=DECODE_TOLERANCE_HM, unit=unit_name(ev), max_error_hm=nanmax(shown),
                   median_error_hm=float(np.nanmedian(shown)) if visible.any() else np.nan,
                   worst=worst_landmark(ev, shown))


def original(ev: Evidence) -> dict[str, Any]:
    """Original-pixel predictions against the truth, and which transform of the truth they are."""
    tolerance = DECODE_TOLERANCE_HM * ev.stride * original_per_input(ev)  # the decode tolerance, carried over
    distance = point_distance(ev.pred_original, ev.truth)
    visible = ev.annotated
    shown = np.where(visible, distance, np.nan)
    fit = frame_fit(ev, visible, DECODE_TOLERANCE_HM)
    return _family("original", fraction_within=fraction(distance <= tolerance, visible), tolerance_px=tolerance,
                   unit=unit_name(ev), max_error_px=nanmax(shown), worst=worst_landmark(ev, shown), **fit)


def metric(ev: Evidence) -> dict[str, Any]:
    expected = documented_pck(ev.pred_original, ev.truth, PCK_ALPHA)
    expected_probe = documented_pck(ev.probe_pred, ev.probe_truth, PCK_ALPHA)
    values = dict(
        alpha=PCK_ALPHA, metric=ev.metric_value, documented=expected,
        probe_metric=ev.probe_metric, probe_documented=expected_probe,
        # The same points counted: within half of one point's share of the percentage.
        slack=50.0 / max(1, np.isfinite(ev.truth).all(axis=-1).sum()),
        probe_slack=50.0 / max(1, np.isfinite(ev.probe_truth).all(axis=-1).sum()),
        probe_as_percent_gap=abs(100 * ev.probe_metric - expected_probe),
    )
    low, high, documented_box = implied_box(ev.probe_pred, ev.probe_truth, ev.probe_metric, PCK_ALPHA)
    values.update(implied_box_px=[low, high], implied_box_low_px=low, implied_box_high_px=high,
                  documented_box_px=documented_box)
    candidates = metric_box_candidates(ev.truth, ev.input_size, ev.original_size)
    fitting = {label: size for label, size in candidates.items()
               if low * (1 - BOX_MATCH) <= size <= high * (1 + BOX_MATCH)}
    if fitting:
        middle = 0.5 * (low + high) if np.isfinite(high) else low
        values["matched_box"] = min(fitting, key=lambda label: abs(fitting[label] - middle))
    return _family("metric", **values)


def autoregressive(ev: Evidence) -> dict[str, Any]:
    tolerance = DECODE_TOLERANCE_HM * ev.stride
    gap = point_distance(ev.autoregressive, ev.teacher_forced)
    visible = ev.annotated & np.isfinite(ev.teacher_forced).all(axis=-1)
    along = np.nanmax(np.where(visible, gap, np.nan), axis=0)  # worst over the batch, by sequence position
    values: dict[str, Any] = dict(fraction_within=fraction(gap <= tolerance, visible), tolerance_px=tolerance,
                                  gap_by_position_px=along.tolist())
    beyond = np.flatnonzero(along > tolerance)
    if beyond.size:
        first = int(beyond[0])
        # What autoregression fed into that step, against what teacher forcing fed (the target before it).
        fed = 0.0 if first == 0 else float(np.nanmax(point_distance(ev.autoregressive, ev.target_input)[:, first - 1]))
        values.update(first_divergent_position=first, first_gap_px=float(along[first]), fed_back_error_px=fed)
    return _family("autoregressive", **values)


def target_width(ev: Evidence) -> float | None:
    """Median spread (heatmap px, the sigma of a clean Gaussian) of the target heatmaps' mass."""
    if ev.target_heatmaps is None:
        return None
    maps = np.clip(ev.target_heatmaps.astype(np.float64), 0, None)
    total = maps.sum(axis=(-2, -1))
    rows, cols = np.arange(maps.shape[-2]), np.arange(maps.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        along_y, along_x = maps.sum(axis=-1) / total[..., None], maps.sum(axis=-2) / total[..., None]
        var_y = (along_y * rows**2).sum(-1) - ((along_y * rows).sum(-1)) ** 2
        var_x = (along_x * cols**2).sum(-1) - ((along_x * cols).sum(-1)) ** 2
    widths = np.sqrt(np.clip(0.5 * (var_x + var_y), 0, None))[total > 0]
    return float(np.median(widths)) if widths.size else None


def unit_name(ev: Evidence) -> str:
    return "heatmap px" if ev.pred_heatmaps is not None else "output px"


def _has_target(ev: Evidence) -> np.ndarray:
    return (ev.target_heatmaps.max(axis=(-2, -1)) > 0) & ev.annotated


def _family(name: str, **values: Any) -> dict[str, Any]:
    return {f"sanity.{name}.{key}": value for key, value in values.items()}
