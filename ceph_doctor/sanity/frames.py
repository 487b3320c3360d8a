"""Stage 4's diagnosis: which coordinate transform turns the truth into the predictions.

When decoding is right in heatmap space but the original-pixel predictions are
off, a least-squares fit per axis names the bug: a scale of 1/stride (stride not
undone), the resize factor (resize not undone), or swapped axes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ceph_doctor.sanity.evidence import DECODE_TOLERANCE_HM, PASS_FRACTION, Evidence, fraction, point_distance

class FrameBug(NamedTuple):
    formula: str
    cause: str
    fix: str
    fit: dict


# Scale factors that are bugs, by the step they happen in; t = stride, s = resize (input px per original px).
# Stride 2 and a resize by 1/2 give the same factor, so the step that breaks is found first (locate_frame_bug).
_DECODE_BUGS = (
    (lambda t, s: 1 / t, "scaled by 1/stride: stride not undone (decode returns heatmap px, not input px)",
     "multiply decoded heatmap coordinates by the stride in decode()"),
    (lambda t, s: t, "scaled by the stride: stride applied twice", "multiply by the stride once, in decode() only"),
)
_TO_ORIGINAL_BUGS = (
    (lambda t, s: s, "scaled by the resize factor: resize not undone (to_original returns input px)",
     "map input px back to original px in to_original(): (p + 0.5) / scale - 0.5 "
     "(ceph_doctor.data.dataset.to_original_pixels)"),
    (lambda t, s: s * s, "scaled by the resize factor twice: the resize applied again instead of undone",
     "divide by the resize factor in to_original(), do not multiply"),
    (lambda t, s: 1 / s, "scaled by 1/resize factor: resize undone twice", "undo the resize once, in to_original()"),
)
_SCALE_MATCH = 0.05  # a fitted scale within 5 % of a candidate names it


def locate_frame_bug(ev: Evidence, visible: np.ndarray) -> FrameBug:
    """Find the step that breaks (decode or to_original), then the transform it applies.

    Decoded points are checked against the truth carried into input px by the
    usual pixel-centre resize; when they match, decode is sound and the bug is
    in to_original. Without the image sizes both steps are judged together.
    """
    stride = ev.stride
    if ev.input_size is None or ev.original_size is None:
        tolerance = DECODE_TOLERANCE_HM * stride
        return describe_frame_bug(ev.pred_original[visible], ev.truth[visible], tolerance, stride, np.ones(2),
                                  _DECODE_BUGS + _TO_ORIGINAL_BUGS, "decode() or to_original()")
    resize = np.asarray(ev.input_size, np.float64) / np.asarray(ev.original_size, np.float64)
    truth_input = (ev.truth + 0.5) * resize - 0.5
    tolerance_input = DECODE_TOLERANCE_HM * stride
    decoded_well = fraction(point_distance(ev.pred_input, truth_input) <= tolerance_input, visible) >= PASS_FRACTION
    if decoded_well:
        tolerance = tolerance_input / resize.min()
        return describe_frame_bug(ev.pred_original[visible], ev.truth[visible], tolerance, stride, resize,
                                  _TO_ORIGINAL_BUGS, "to_original()")
    return describe_frame_bug(ev.pred_input[visible], truth_input[visible], tolerance_input, stride, resize,
                              _DECODE_BUGS, "decode()")


def describe_frame_bug(pred: np.ndarray, truth: np.ndarray, tolerance: float, stride: float, resize: np.ndarray,
                       candidates: tuple, where: str) -> FrameBug:
    """Fit pred ≈ a · truth + b per axis, with and without swapping x and y, and name what the fit shows."""
    fits = {swapped: _axis_fit(pred, truth[:, ::-1] if swapped else truth) for swapped in (False, True)}
    swapped = fits[True][2] < fits[False][2]
    scale, offset, residual = fits[swapped]
    src = ("y", "x") if swapped else ("x", "y")
    formula = (f"{where}: x_out = {scale[0]:.3g}·{src[0]}_true {offset[0]:+.3g}, "
               f"y_out = {scale[1]:.3g}·{src[1]}_true {offset[1]:+.3g} (fit residual {residual:.2g} px)")
    fit = {"step": where, "swapped": bool(swapped), "scale": scale.tolist(), "offset": offset.tolist(),
           "fit_residual_px": residual}
    if residual > tolerance:
        return FrameBug(formula, f"{where} scrambles the points: they are no scaled, shifted or swapped copy of "
                        "the truth", f"check {where} on a known point, e.g. a target", fit)
    aspect = resize[::-1] / resize if swapped else np.ones(2)  # a swap also trades the axes' resize factors
    named = [(cause, fix) for factor, cause, fix in candidates
             if np.all(np.abs(scale / (np.asarray(factor(stride, resize)) * aspect) - 1) <= _SCALE_MATCH)]
    if swapped:
        cause = f"x and y swapped in {where}"
        fix = f"in {where}, keep (x, y) order: an argmax index is (row, col) = (y, x)"
        if named:
            cause, fix = f"{cause}, and {named[0][0]}", f"{fix}; {named[0][1]}"
        return FrameBug(formula, cause, fix, fit)
    if named:
        return FrameBug(formula, named[0][0], named[0][1], fit)
    if np.all(np.abs(scale - 1) <= _SCALE_MATCH):
        return FrameBug(formula, f"shifted by ({offset[0]:+.2f}, {offset[1]:+.2f}) px in {where}: a pixel-centre "
                        "convention (±0.5 px) or a crop/pad offset not undone",
                        "use one pixel convention both ways ((p + 0.5) · scale - 0.5) and undo any crop or pad", fit)
    return FrameBug(formula, f"scaled by ({scale[0]:.3g}, {scale[1]:.3g}) in {where}: a scale factor not undone",
                    f"find the factor in {where}", fit)


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
