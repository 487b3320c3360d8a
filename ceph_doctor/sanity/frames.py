"""Stage 4's measurement: which coordinate transform turns the truth into the predictions.

When decoding is right in heatmap space but the original-pixel predictions are
off, a least-squares fit per axis shows the bug: a scale of 1/stride (stride not
undone), the resize factor (resize not undone), or swapped axes.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ceph_doctor.sanity.evidence import Evidence, point_distance

# Scale factors that are bugs, by the step they happen in; t = stride, s = resize (input px per original px).
# Stride 2 and a resize by 1/2 give the same factor, so the step that breaks is found first (frame_fit).
# rules/sanity/4-original-pixels.yaml says what each one means and how to fix it.
DECODE_FACTORS = {"1/stride": lambda t, s: 1 / t, "stride": lambda t, s: t}
TO_ORIGINAL_FACTORS = {"resize": lambda t, s: s, "resize²": lambda t, s: s * s, "1/resize": lambda t, s: 1 / s}
SCALE_MATCH = 0.05  # a fitted scale within 5 % of a candidate names it


def frame_fit(ev: Evidence, visible: np.ndarray, tolerance_hm: float) -> dict[str, Any]:
    """Which step breaks (decode or to_original), and the transform of the truth it applies.

    Decoded points are checked against the truth carried into input px by the usual pixel-centre
    resize; when most of them match, decode is sound and the bug is in to_original. Without the
    image sizes both steps are judged together.
    """
    stride = ev.stride
    tolerance_input = tolerance_hm * stride
    if ev.input_size is None or ev.original_size is None:
        return describe_fit(ev.pred_original[visible], ev.truth[visible], tolerance_input, stride, np.ones(2),
                            {**DECODE_FACTORS, **TO_ORIGINAL_FACTORS}, "decode() or to_original()")
    resize = np.asarray(ev.input_size, np.float64) / np.asarray(ev.original_size, np.float64)
    truth_input = (ev.truth + 0.5) * resize - 0.5
    decoded_error = point_distance(ev.pred_input, truth_input)[visible]
    if decoded_error.size and float(np.median(decoded_error)) <= tolerance_input:
        return describe_fit(ev.pred_original[visible], ev.truth[visible], tolerance_input / resize.min(), stride,
                            resize, TO_ORIGINAL_FACTORS, "to_original()")
    return describe_fit(ev.pred_input[visible], truth_input[visible], tolerance_input, stride, resize,
                        DECODE_FACTORS, "decode()")


def describe_fit(pred: np.ndarray, truth: np.ndarray, tolerance: float, stride: float, resize: np.ndarray,
                 factors: dict[str, Callable], step: str) -> dict[str, Any]:
    """Fit pred ≈ a · truth + b per axis, with and without swapping x and y: the fit and the factor it names."""
    fits = {swapped: _axis_fit(pred, truth[:, ::-1] if swapped else truth) for swapped in (False, True)}
    swapped = bool(fits[True][2] < fits[False][2])
    scale, offset, residual = fits[swapped]
    values: dict[str, Any] = {
        "step": step, "swapped": swapped, "x_from": "y" if swapped else "x", "y_from": "x" if swapped else "y",
        "scale": scale.tolist(), "offset": offset.tolist(), "scale_x": float(scale[0]), "scale_y": float(scale[1]),
        "offset_x": float(offset[0]), "offset_y": float(offset[1]), "fit_residual_px": residual,
        "fit_tolerance_px": float(tolerance), "unit_scale": bool(np.all(np.abs(scale - 1) <= SCALE_MATCH)),
    }
    aspect = resize[::-1] / resize if swapped else np.ones(2)  # a swap also trades the axes' resize factors
    named = [name for name, factor in factors.items()
             if np.all(np.abs(scale / (np.asarray(factor(stride, resize)) * aspect) - 1) <= SCALE_MATCH)]
    if named and not values["unit_scale"]:  # stride 1 or no resize: the factor is 1, no bug to name
        values["factor"] = named[0]
    return values


def _axis_fit(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares pred[:, i] = a_i · truth[:, i] + b_i; the scale, offset and RMS residual (px)."""
    scale, offset, squares = np.ones(2), np.zeros(2), 0.0
    for axis in range(2):
        x, y = truth[:, axis], pred[:, axis]
        if not np.isfinite(y).all():
            return scale, offset, np.inf
        if np.ptp(x) > 0:
            scale[axis], offset[axis] = np.polyfit(x, y, 1)
        else:
            offset[axis] = float(np.mean(y - x))
        squares += float(np.mean((scale[axis] * x + offset[axis] - y) ** 2))
    return scale, offset, float(np.sqrt(squares))
