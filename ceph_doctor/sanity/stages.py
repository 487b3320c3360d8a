"""The overfit check's stages: each a pure function from recorded evidence to a verdict.

The stages follow the inference path in order, so the first one that fails
says where the pipeline breaks: the loss (can it learn at all?), the heatmaps
(do peaks form where the targets are?), decoding (sub-pixel, in heatmap px),
the map back to original pixels, the metric, and for sequence decoders
autoregressive against teacher-forced decoding. Nothing here trains or calls
the pipeline; `overfit.py` records the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

# A heatmap MSE starts at the targets' mean energy (outputs start near zero).
# At 0.05 of it, peaks in the right places stand at about 78 % of their height
# (residual amplitude sqrt(0.05) = 0.22); a model that learnt only the
# background stays near 1, one whose peaks are half as high near 0.25. For any
# other loss, 0.05 is a twentyfold fall: one fixed sample memorised.
LOSS_RATIO_MAX = 0.05
# Fraction of landmarks that must pass the per-landmark stages: on one image
# of 19 landmarks that is all of them, yet a true batch may keep a straggler.
PASS_FRACTION = 0.95
# Argmax of prediction and target within this many heatmap px (8-neighbourhood):
# a true position between two pixels can round either way.
ARGMAX_TOLERANCE_HM = 1
# Sub-pixel: decoded prediction within this distance (heatmap px) of the decoded target.
DECODE_TOLERANCE_HM = 1.0
# The sigma-too-small rule's thresholds (rules/sigma-too-small.yaml).
NARROW_TARGET_HM = 1.0
SOMEWHAT_NARROW_TARGET_HM = 1.5
WEAK_PEAK = 0.3
PCK_ALPHA = 0.05
# An eval-mode loss this many times the final training loss means inference computes something else.
EVAL_GAP = 10.0
# An output gap this many tolerances wide after a correct fed-back point is a jump, not compounding error.
JUMP = 4.0


@dataclass
class Evidence:
    """What one overfit run recorded. Arrays are (B, K, 2) x, y unless said otherwise."""

    losses: np.ndarray  # training loss at each step, before that step's update
    eval_loss: float  # loss of the inference-mode output after training
    trainable_fraction: float  # of parameter elements with requires_grad
    changed_fraction: float  # of parameter elements that moved during training
    pred_input: np.ndarray  # decode(output), input px
    target_input: np.ndarray  # decode_targets(targets), input px
    pred_original: np.ndarray  # to_original(pred_input)
    truth: np.ndarray  # original px, NaN = not annotated
    metric_value: float  # the pipeline's metric on (pred_original, truth)
    probe_pred: np.ndarray  # (P, K, 2) predictions at known errors, for the metric
    probe_truth: np.ndarray  # (P, K, 2)
    probe_metric: float  # the pipeline's metric on the probe
    stride: float = 1.0  # input px per heatmap (output) px
    input_size: tuple[int, int] | None = None  # width, height
    original_size: tuple[int, int] | None = None
    names: tuple[str, ...] | None = None
    pred_heatmaps: np.ndarray | None = None  # (B, K, h, w)
    target_heatmaps: np.ndarray | None = None
    autoregressive: np.ndarray | None = None  # input px
    teacher_forced: np.ndarray | None = None

    @property
    def annotated(self) -> np.ndarray:
        """(B, K) landmarks with a truth: the others are left out of every stage."""
        return np.isfinite(self.truth).all(axis=-1)


@dataclass
class StageResult:
    name: str
    passed: bool | None  # None: skipped
    evidence: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    likely_cause: str | None = None
    fix: str | None = None
    diagnosis: str | None = None  # the related `ceph-doctor rules explain` id
    after_failure: bool = False  # an earlier stage failed: this verdict may be its consequence

    @property
    def status(self) -> str:
        return "skipped" if self.passed is None else "pass" if self.passed else "fail"


# -- 1 -------------------------------------------------------------------------------------------------
def loss_falls(ev: Evidence) -> StageResult:
    losses = np.asarray(ev.losses, np.float64)
    initial, final = float(losses[0]), float(np.median(losses[-10:]))  # the median shrugs off a last spike
    ratio = final / initial if initial > 0 else np.nan
    evidence = {"initial_loss": initial, "final_loss": final, "ratio": ratio, "steps": len(losses),
                "eval_mode_loss": ev.eval_loss, "trainable_fraction": ev.trainable_fraction,
                "changed_fraction": ev.changed_fraction}
    width = target_width(ev)
    if width is not None:
        evidence["target_width_hm"] = width
    passed = bool(np.isfinite(losses).all() and ratio < LOSS_RATIO_MAX)
    message = f"loss {initial:.3g} → {final:.3g}: ×{ratio:.2g} in {len(losses)} steps (needs < {LOSS_RATIO_MAX:g})"
    result = StageResult("loss falls by orders of magnitude", passed, evidence, message)
    if passed:
        return result
    if not np.isfinite(losses).all():
        return _blame(result, "the loss became NaN/Inf: the step size is too large for this model",
                      "lower optimizer.lr (e.g. ÷10) or set train.grad_clip=1.0", "diverged")
    if ev.changed_fraction == 0 or ev.trainable_fraction < 0.5:
        if ev.trainable_fraction == 0:
            cause = "every parameter is frozen (requires_grad=False): nothing can learn"
        elif ev.changed_fraction == 0:
            cause = "no parameter changed although some are trainable: the gradient never reaches them"
        else:
            cause = f"only {ev.trainable_fraction:.1%} of the parameters are trainable: most of the network is frozen"
        return _blame(result, cause, "unfreeze the model (requires_grad=True; model.unfreeze_after: null) and "
                      "check that nothing detaches the output from the loss", "frozen-backbone")
    narrow = _narrow_targets(ev)
    if narrow:
        return _blame(result, narrow, "set codec.sigma=2.0", "sigma-too-small")
    if ratio > 1:
        return _blame(result, "the loss rose: the step size is too large",
                      "lower optimizer.lr (e.g. ÷3)", "lr-too-high")
    return _blame(result, "the model cannot memorise one image in these steps: too few steps, too low an lr, "
                  "too little capacity (a last layer narrower than the number of landmarks cannot fit every "
                  "heatmap), or a loss that does not compare the output with its target",
                  "raise --steps or optimizer.lr (×3) or the model's width, and check that loss(output, targets) "
                  "pairs each output with its own target", "underfitting")


# -- 2 -------------------------------------------------------------------------------------------------
def heatmaps_peak_at_targets(ev: Evidence) -> StageResult:
    name = "heatmaps peak at the targets"
    if ev.pred_heatmaps is None or ev.target_heatmaps is None:
        return StageResult(name, None, message="skipped: the pipeline gives no heatmaps (no heatmaps())")
    pred, target = _argmax_yx(ev.pred_heatmaps), _argmax_yx(ev.target_heatmaps)
    distance = np.abs(pred - target).max(axis=-1).astype(np.float64)  # Chebyshev, heatmap px
    has_target = (ev.target_heatmaps.max(axis=(-2, -1)) > 0) & ev.annotated
    distance[~has_target] = np.nan
    within = _fraction(distance <= ARGMAX_TOLERANCE_HM, has_target)
    peaks = ev.pred_heatmaps.max(axis=(-2, -1))
    evidence = {"fraction_within": within, "max_distance_hm": _nanmax(distance),
                "median_peak": float(np.median(peaks[has_target])) if has_target.any() else np.nan,
                "worst": _worst(ev, distance)}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} of peaks within {ARGMAX_TOLERANCE_HM} heatmap px of the target peak "
               f"(needs {PASS_FRACTION:.0%}); worst {evidence['max_distance_hm']:.0f} px ({evidence['worst']})")
    result = StageResult(name, passed, evidence, message)
    if passed:
        return result
    if _eval_mode_differs(ev):
        return _blame(result, *_eval_mode_differs(ev))
    narrow = _narrow_targets(ev)
    if narrow:
        return _blame(result, narrow, "set codec.sigma=2.0", "sigma-too-small")
    return _blame(result, "the network has not formed a peak at each target: it is not learning the targets "
                  "(or the targets are paired with the wrong landmarks)",
                  "check that target heatmap k is built from landmark k of this image, then raise --steps",
                  "underfitting")


# -- 3 -------------------------------------------------------------------------------------------------
def decoded_match_targets(ev: Evidence) -> StageResult:
    distance = _distance(ev.pred_input, ev.target_input) / ev.stride
    visible = ev.annotated & np.isfinite(ev.target_input).all(axis=-1)
    within = _fraction(distance <= DECODE_TOLERANCE_HM, visible)
    evidence = {"fraction_within": within, "max_error_hm": _nanmax(np.where(visible, distance, np.nan)),
                "median_error_hm": float(np.nanmedian(np.where(visible, distance, np.nan))),
                "worst": _worst(ev, np.where(visible, distance, np.nan))}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} within {DECODE_TOLERANCE_HM:g} {_unit(ev)} of the decoded targets "
               f"(needs {PASS_FRACTION:.0%}); median {evidence['median_error_hm']:.2f}, "
               f"worst {evidence['max_error_hm']:.2f} ({evidence['worst']})")
    result = StageResult("decoded coordinates match the targets", passed, evidence, message)
    if passed:
        return result
    if _eval_mode_differs(ev):
        return _blame(result, *_eval_mode_differs(ev))
    narrow = _narrow_targets(ev)
    if narrow:
        return _blame(result, narrow + "; sub-pixel decoding needs a peak several pixels wide",
                      "set codec.sigma=2.0", "sigma-too-small")
    return _blame(result, "peaks are in place but decode to the wrong sub-pixel position, or the network's "
                  "peaks are not shaped like the targets (sub-pixel refinement expects the target's Gaussian)",
                  "check decode() on the target heatmaps themselves, then raise --steps", "underfitting")


# -- 4 -------------------------------------------------------------------------------------------------
def original_pixels_match_truth(ev: Evidence) -> StageResult:
    tolerance = DECODE_TOLERANCE_HM * ev.stride * _original_per_input(ev)  # stage 3's, carried into original px
    distance = _distance(ev.pred_original, ev.truth)
    visible = ev.annotated
    within = _fraction(distance <= tolerance, visible)
    evidence = {"fraction_within": within, "tolerance_px": tolerance,
                "max_error_px": _nanmax(np.where(visible, distance, np.nan)),
                "worst": _worst(ev, np.where(visible, distance, np.nan))}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} within {tolerance:.2g} original px (1 {_unit(ev)}) of the truth "
               f"(needs {PASS_FRACTION:.0%}); worst {evidence['max_error_px']:.2g} px ({evidence['worst']})")
    result = StageResult("original-pixel predictions match the truth", passed, evidence, message)
    if passed:
        return result
    bug = locate_frame_bug(ev, visible)
    evidence.update(bug.fit)
    result.message += f"; {bug.formula}"
    return _blame(result, bug.cause, bug.fix, "coordinate-mismatch")


# -- 5 -------------------------------------------------------------------------------------------------
def metric_agrees(ev: Evidence) -> StageResult:
    expected = documented_pck(ev.pred_original, ev.truth, PCK_ALPHA)
    expected_probe = documented_pck(ev.probe_pred, ev.probe_truth, PCK_ALPHA)
    # Agreement means the same points counted: half of one point's share of the percentage.
    slack = 50.0 / max(1, np.isfinite(ev.probe_truth).all(axis=-1).sum())
    slack_own = 50.0 / max(1, np.isfinite(ev.truth).all(axis=-1).sum())
    evidence = {"metric": ev.metric_value, "documented": expected,
                "probe_metric": ev.probe_metric, "probe_documented": expected_probe}
    passed = bool(abs(ev.metric_value - expected) <= slack_own and abs(ev.probe_metric - expected_probe) <= slack)
    message = (f"PCK@{PCK_ALPHA:g} {ev.metric_value:.1f}%, recomputed from the errors {expected:.1f}%; "
               f"on probe errors around the threshold {ev.probe_metric:.1f}% vs {expected_probe:.1f}%")
    result = StageResult("the metric agrees with the errors", passed, evidence, message)
    if passed:
        return result
    if ev.probe_metric <= 1.0 < expected_probe and abs(100 * ev.probe_metric - expected_probe) <= slack:
        return _blame(result, "the metric returns a fraction, not a percentage", "multiply the metric by 100")
    low, high, documented_box = implied_box(ev.probe_pred, ev.probe_truth, ev.probe_metric, PCK_ALPHA)
    evidence.update({"implied_box_px": [low, high], "documented_box_px": documented_box})
    candidates = metric_box_candidates(ev.truth, ev.input_size, ev.original_size)
    fitting = {label: size for label, size in candidates.items() if low * 0.98 <= size <= high * 1.02}
    middle = 0.5 * (low + high) if np.isfinite(high) else low
    match = min(fitting, key=lambda label: abs(fitting[label] - middle)) if fitting else None
    implied = (f"the metric normalises by a box of {low:.0f}–{high:.0f} px, not the truth landmarks' box "
               f"({documented_box:.0f} px, longer side, original px)")
    cause = f"{implied}: it matches {match}" if match else implied
    return _blame(result, cause, "normalise PCK by the longer side of the truth landmarks' bounding box in original "
                  "pixels, on predictions in original pixels (as ceph_doctor.metrics.landmark_metrics)",
                  "metric-loss-mismatch")


# -- 6 -------------------------------------------------------------------------------------------------
def autoregressive_matches_teacher_forced(ev: Evidence) -> StageResult:
    name = "autoregressive decoding matches teacher-forced"
    if ev.autoregressive is None or ev.teacher_forced is None:
        return StageResult(name, None, message="skipped: not a sequence decoder (no decode_autoregressive)")
    tolerance = DECODE_TOLERANCE_HM * ev.stride
    gap = _distance(ev.autoregressive, ev.teacher_forced)
    visible = ev.annotated & np.isfinite(ev.teacher_forced).all(axis=-1)
    within = _fraction(gap <= tolerance, visible)
    along = np.nanmax(np.where(visible, gap, np.nan), axis=0)  # worst over the batch, by sequence position
    evidence = {"fraction_within": within, "tolerance_px": tolerance, "gap_by_position_px": along.tolist()}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} of autoregressive points within {tolerance:g} input px of teacher-forced ones; "
               f"gap by position {', '.join(f'{g:.2g}' for g in along)} px")
    result = StageResult(name, passed, evidence, message)
    if passed:
        return result
    first = int(np.argmax(along > tolerance))
    # What autoregression fed into that step, against what teacher forcing fed (the target before it).
    fed_error = 0.0 if first == 0 else float(np.nanmax(_distance(ev.autoregressive, ev.target_input)[:, first - 1]))
    evidence.update({"first_divergent_position": first, "fed_back_error_px": fed_error})
    loop_bug = ("the inference loop feeds back something else (start token, coordinate frame or scale, order)",
                "make decode_autoregressive feed back exactly what training feeds: same frame, scale, order",
                "exposure-bias")
    if first == 0:
        return _blame(result, f"the first point, where both decodings start alike, already differs by "
                      f"{along[0]:.3g} px: {loop_bug[0]}", *loop_bug[1:])
    if fed_error <= tolerance and along[first] > JUMP * tolerance:
        return _blame(result, f"at position {first} the loop was fed a point within {fed_error:.2g} px of the one "
                      f"teacher forcing feeds, yet its output jumps {along[first]:.3g} px: {loop_bug[0]}",
                      *loop_bug[1:])
    return _blame(result, f"the gap grows along the sequence from position {first}: each step is fed its own "
                  "slightly wrong output, which training never showed it (exposure bias)",
                  "set train.scheduled_sampling to feed the model its own predictions during training",
                  "exposure-bias")


STAGES = (loss_falls, heatmaps_peak_at_targets, decoded_match_targets, original_pixels_match_truth,
          metric_agrees, autoregressive_matches_teacher_forced)


def run_stages(ev: Evidence) -> list[StageResult]:
    """Every stage, in order; those after the first failure are flagged as possibly its consequence."""
    results, failed = [], False
    for stage in STAGES:
        result = stage(ev)
        result.after_failure = failed and result.passed is not None
        failed = failed or result.passed is False
        results.append(result)
    return results


# -- shared measurements -----------------------------------------------------------------------------
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


def _narrow_targets(ev: Evidence) -> str | None:
    width = target_width(ev)
    if width is None or width >= SOMEWHAT_NARROW_TARGET_HM:
        return None
    peaks = ev.pred_heatmaps.max(axis=(-2, -1)) if ev.pred_heatmaps is not None else None
    weak = int((peaks < WEAK_PEAK).sum()) if peaks is not None else 0
    if width < NARROW_TARGET_HM or weak:
        return (f"the heatmap targets are only {width:.2f} heatmap px wide (sigma too small): "
                f"{weak} of {peaks.size if peaks is not None else '?'} predicted peaks stay below {WEAK_PEAK}")
    return None


def _eval_mode_differs(ev: Evidence) -> tuple[str, str] | None:
    """Training memorised the image but the same image in eval mode is far off: a train/eval difference."""
    final = float(np.median(np.asarray(ev.losses)[-10:]))
    if not (final < LOSS_RATIO_MAX * ev.losses[0] and ev.eval_loss > EVAL_GAP * final):
        return None
    return (f"the training loss fell to {final:.3g} but the same image in eval mode scores {ev.eval_loss:.3g}: "
            "the model computes something else at inference (BatchNorm running statistics, dropout, a branch "
            "taken only in eval mode)",
            "compare model.train() and model.eval() outputs on this batch; with BatchNorm, use a larger batch "
            "or GroupNorm")


def _blame(result: StageResult, cause: str, fix: str, diagnosis: str | None = None) -> StageResult:
    result.likely_cause, result.fix, result.diagnosis = cause, fix, diagnosis
    return result


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        d = np.hypot(*np.moveaxis(np.asarray(a, np.float64) - np.asarray(b, np.float64), -1, 0))
    return np.where(np.isnan(d), np.inf, d)  # a lost prediction is a miss, never dropped


def _fraction(success: np.ndarray, counted: np.ndarray) -> float:
    return float(success[counted].mean()) if counted.any() else 0.0


def _nanmax(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.max()) if finite.size else np.nan


def _worst(ev: Evidence, values: np.ndarray) -> str:
    """The landmark with the largest value, by name when known."""
    if np.isnan(values).all():
        return "-"
    k = int(np.unravel_index(np.nanargmax(values), values.shape)[-1])
    return ev.names[k] if ev.names else f"landmark {k}"


def _argmax_yx(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(*maps.shape[:-2], -1).argmax(axis=-1)
    return np.stack(np.unravel_index(flat, maps.shape[-2:]), axis=-1)


def _unit(ev: Evidence) -> str:
    return "heatmap px" if ev.pred_heatmaps is not None else "output px"


def _original_per_input(ev: Evidence) -> float:
    """Original px per input px along the coarser axis; 1 when the pipeline does not say."""
    if ev.input_size is None or ev.original_size is None:
        return 1.0
    return float(max(o / i for o, i in zip(ev.original_size, ev.input_size)))


# -- stage 4: which transform, in which step, turns the truth into the predictions ------------------
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
    decoded_well = _fraction(_distance(ev.pred_input, truth_input) <= tolerance_input, visible) >= PASS_FRACTION
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


# -- stage 5: the metric recomputed from its definition ------------------------------------------------
def documented_pck(pred: np.ndarray, truth: np.ndarray, alpha: float) -> float:
    """PCK@alpha in %, as ceph_doctor.metrics documents it, written out again from the errors.

    Error over the longer side of the image's truth-landmark box, counted when < alpha; per landmark over
    images, then the mean over landmarks. Independent code on purpose: it is the reference for the metric.
    """
    visible = np.isfinite(truth).all(axis=-1)
    errors = np.where(visible, _distance(pred, truth), np.nan)
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
    errors = np.sort(_distance(pred, truth)[visible])
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
