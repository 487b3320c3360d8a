"""The overfit check's stages: each a pure function from recorded evidence to a verdict.

The stages follow the inference path in order, so the first one that fails
says where the pipeline breaks: the loss (can it learn at all?), the heatmaps
(do peaks form where the targets are?), decoding (sub-pixel, in heatmap px),
the map back to original pixels, the metric, and for sequence decoders
autoregressive against teacher-forced decoding. Nothing here trains or calls
the pipeline; `overfit.py` records the evidence.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.sanity.evidence import (
    ARGMAX_TOLERANCE_HM,
    DECODE_TOLERANCE_HM,
    EVAL_GAP,
    JUMP,
    LOSS_RATIO_MAX,
    NARROW_TARGET_HM,
    PASS_FRACTION,
    PCK_ALPHA,
    SOMEWHAT_NARROW_TARGET_HM,
    WEAK_PEAK,
    Evidence,
    StageResult,
    argmax_yx,
    point_distance,
    fraction,
    nanmax,
    original_per_input,
    unit_name,
    worst_landmark,
)
from ceph_doctor.sanity.frames import locate_frame_bug
from ceph_doctor.sanity.metric_probe import documented_pck, implied_box, metric_box_candidates

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
    pred, target = argmax_yx(ev.pred_heatmaps), argmax_yx(ev.target_heatmaps)
    distance = np.abs(pred - target).max(axis=-1).astype(np.float64)  # Chebyshev, heatmap px
    has_target = (ev.target_heatmaps.max(axis=(-2, -1)) > 0) & ev.annotated
    distance[~has_target] = np.nan
    within = fraction(distance <= ARGMAX_TOLERANCE_HM, has_target)
    peaks = ev.pred_heatmaps.max(axis=(-2, -1))
    evidence = {"fraction_within": within, "max_distance_hm": nanmax(distance),
                "median_peak": float(np.median(peaks[has_target])) if has_target.any() else np.nan,
                "worst": worst_landmark(ev, distance)}
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
    distance = point_distance(ev.pred_input, ev.target_input) / ev.stride
    visible = ev.annotated & np.isfinite(ev.target_input).all(axis=-1)
    within = fraction(distance <= DECODE_TOLERANCE_HM, visible)
    evidence = {"fraction_within": within, "max_error_hm": nanmax(np.where(visible, distance, np.nan)),
                "median_error_hm": float(np.nanmedian(np.where(visible, distance, np.nan))),
                "worst": worst_landmark(ev, np.where(visible, distance, np.nan))}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} within {DECODE_TOLERANCE_HM:g} {unit_name(ev)} of the decoded targets "
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
    tolerance = DECODE_TOLERANCE_HM * ev.stride * original_per_input(ev)  # stage 3's, carried into original px
    distance = point_distance(ev.pred_original, ev.truth)
    visible = ev.annotated
    within = fraction(distance <= tolerance, visible)
    evidence = {"fraction_within": within, "tolerance_px": tolerance,
                "max_error_px": nanmax(np.where(visible, distance, np.nan)),
                "worst": worst_landmark(ev, np.where(visible, distance, np.nan))}
    passed = within >= PASS_FRACTION
    message = (f"{within:.0%} within {tolerance:.2g} original px (1 {unit_name(ev)}) of the truth "
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
    gap = point_distance(ev.autoregressive, ev.teacher_forced)
    visible = ev.annotated & np.isfinite(ev.teacher_forced).all(axis=-1)
    within = fraction(gap <= tolerance, visible)
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
    fed_error = 0.0 if first == 0 else float(np.nanmax(point_distance(ev.autoregressive, ev.target_input)[:, first - 1]))
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
