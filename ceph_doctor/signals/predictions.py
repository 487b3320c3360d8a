"""Signals from the per-landmark predictions: collapse, coordinate frames, landmarks that regressed."""

from __future__ import annotations

import warnings

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import metric_curve, val_predictions
from ceph_doctor.store.columns import PredictionTable, factorize, grid, mean_per
from ceph_doctor.store.reader import Run

# A landmark whose predictions spread less than this share of the truth's spread has collapsed.
COLLAPSED_SPREAD = 0.5
# Predicted points closer than this share of the image diagonal count as one point.
MERGE_DISTANCE = 0.01
# Share of the image size, from each edge, that counts as "at the border".
BORDER_BAND = 0.01


def spread_ratios(table: PredictionTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, landmarks, ratios): per epoch × landmark, the spread of predictions across images over the spread
    of the truth (NaN where the truth does not spread, or a landmark was not predicted at that epoch).

    Spread = root of the summed x and y variances. 1 means predictions vary from
    image to image as much as the anatomy does; near 0, the model answers the same
    point whatever the image.
    """
    cells = {column: grid(table["epoch"], table["landmark"], table.floats(column))
             for column in ("pred_x", "pred_y", "true_x", "true_y")}
    pred = np.sqrt(cells["pred_x"].var + cells["pred_y"].var)
    true = np.sqrt(cells["true_x"].var + cells["true_y"].var)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = pred / np.where(true > 0, true, np.nan)
    return cells["pred_x"].rows, cells["pred_x"].columns, ratios


def image_extent(run: Run, table: PredictionTable) -> tuple[float, float]:
    size = (run.manifest.get("dataset") or {}).get("original_size")
    if size:
        return float(size[0]), float(size[1])
    return float(np.nanmax(table.floats("true_x")) * 1.1), float(np.nanmax(table.floats("true_y")) * 1.1)


@signal_family(
    "collapse",
    provides=(
        "collapse.spread_ratio", "collapse.spread_ratio_best", "collapse.spread_drop", "collapse.landmarks",
        "collapse.collapsed_count", "collapse.onset_epoch", "collapse.at_best", "collapse.distinct_ratio",
        "collapse.border_share",
    ),
)
def collapse_signals(run: Run):
    table = val_predictions(run)
    if len(table.unique("image_id")) < 3:
        raise MissingInput("predictions for at least 3 validation images")
    epochs, landmarks, ratios = spread_ratios(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch with no spread to measure: NaN
        median = np.nanmedian(ratios, axis=1)
    epochs = epochs.astype(np.int64)
    last_epoch = int(epochs[-1])
    # Reference: the best validation (an untrained model's random spread means nothing).
    try:
        best_epoch = metric_curve(run).best_epoch
    except MissingInput:
        best_epoch = int(epochs[0])
    best_epoch = best_epoch if best_epoch in epochs else int(epochs[0])
    collapsed = [str(name) for name, value in zip(landmarks, ratios[-1]) if value < COLLAPSED_SPREAD]
    width, height = image_extent(run, table)
    _, border = mean_per(table["epoch"], at_border(table, width, height))  # share of predictions per epoch
    # Onset: the first validation of the final stretch in which predictions stayed collapsed.
    state = (median < COLLAPSED_SPREAD) | (border > 0.2)
    onset = None
    for epoch, collapsed_then in zip(reversed(epochs), reversed(state)):
        if not collapsed_then:
            break
        onset = int(epoch)
    reference = median[np.searchsorted(epochs, best_epoch)]
    yield Signal("collapse.spread_ratio", float(median[-1]), "×", last_epoch,
                 "median over landmarks of the predictions' spread across images over the truth's")
    yield Signal("collapse.spread_ratio_best", float(reference), "×", best_epoch)
    yield Signal("collapse.spread_drop", float(1 - median[-1] / reference) if reference > 0 else 0.0,
                 "share", last_epoch, "how far the spread fell since the best epoch")
    yield Signal("collapse.landmarks", collapsed, "", last_epoch)
    yield Signal("collapse.collapsed_count", len(collapsed), "landmarks", last_epoch)
    yield Signal("collapse.onset_epoch", onset, "epoch", onset)
    # Collapsed at the best validation already: the run was never good, and no checkpoint of it is worth keeping.
    yield Signal("collapse.at_best", onset is not None and onset <= best_epoch, "", best_epoch,
                 "the predictions were collapsed from the best validation to the last")

    last = table.where(epoch=last_epoch)
    yield Signal("collapse.distinct_ratio", distinct_ratio(last, MERGE_DISTANCE * np.hypot(width, height)),
                 "share", last_epoch, "median over images of distinct predicted points over the landmark count")
    yield Signal("collapse.border_share", float(border[-1]), "share", last_epoch,
                 "share of predictions on the image border")


def at_border(table: PredictionTable, width: float, height: float) -> np.ndarray:
    """Per row, whether the prediction lies in the band along the image's edge."""
    band_x, band_y = BORDER_BAND * width, BORDER_BAND * height
    x, y = table.floats("pred_x"), table.floats("pred_y")
    return (x < band_x) | (x > width - 1 - band_x) | (y < band_y) | (y > height - 1 - band_y)


def distinct_ratio(table: PredictionTable, radius: float) -> float:
    """Per image, how many separate points the landmarks' predictions form, over the landmark count: greedily,
    each point not within `radius` of an earlier kept one starts a new one (all images at once, point by point)."""
    codes, _ = factorize(table["image_id"], sort=False)
    if len(codes) == 0:
        return np.nan
    counts = np.bincount(codes)
    order = np.argsort(codes, kind="stable")
    slot = np.empty(len(codes), dtype=np.int64)
    slot[order] = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
    points = np.full((len(counts), counts.max(), 2), np.nan)
    points[codes, slot] = table.floats("pred_x", "pred_y")
    finite = np.isfinite(points).all(axis=-1)
    with np.errstate(invalid="ignore"):
        within = np.linalg.norm(points[:, :, None] - points[:, None], axis=-1) <= radius  # NaN: never within
    kept = np.zeros_like(finite)
    for index in range(points.shape[1]):
        kept[:, index] = finite[:, index] & ~(within[:, index] & kept).any(axis=1)
    shares = kept.sum(axis=1)[finite.any(axis=1)] / counts[finite.any(axis=1)]
    return float(np.median(shares)) if len(shares) else np.nan


@signal_family(
    "geometry",
    provides=(
        "geometry.scale", "geometry.scale_x", "geometry.scale_y", "geometry.offset_x", "geometry.offset_y",
        "geometry.r2", "geometry.fit_gain", "geometry.swap_gain", "geometry.swap_r2",
    ),
)
def geometry_signals(run: Run):
    """Least-squares fit pred ≈ scale · true + offset, per axis, at the last validation.

    A correct model has scale ≈ 1 and offset ≈ 0. A stride, resize or axis bug
    leaves the predictions a transformed copy of the truth: the fit then explains
    most of the error (`fit_gain` ≫ 1) with a scale far from 1, or the fit
    against the swapped axes beats the straight one (`swap_gain` > 1).
    """
    table = val_predictions(run)
    epoch = int(table["epoch"].max())
    pred_x, pred_y, true_x, true_y = table.where(epoch=epoch).floats("pred_x", "pred_y", "true_x", "true_y").T
    measured = ~(np.isnan(pred_x) | np.isnan(pred_y) | np.isnan(true_x) | np.isnan(true_y))
    pred_x, pred_y, true_x, true_y = pred_x[measured], pred_y[measured], true_x[measured], true_y[measured]
    if len(pred_x) < 6:
        raise MissingInput("predicted and true coordinates for several validation points")
    straight_x, straight_y = fit(true_x, pred_x), fit(true_y, pred_y)
    swapped_x, swapped_y = fit(true_y, pred_x), fit(true_x, pred_y)
    raw = np.sqrt(np.mean((pred_x - true_x) ** 2 + (pred_y - true_y) ** 2))
    residual = np.hypot(straight_x.rms, straight_y.rms)
    swapped = np.hypot(swapped_x.rms, swapped_y.rms)
    variance = np.var(pred_x, ddof=1) + np.var(pred_y, ddof=1)
    yield Signal("geometry.scale_x", straight_x.scale, "×", epoch)
    yield Signal("geometry.scale_y", straight_y.scale, "×", epoch)
    yield Signal("geometry.scale", (straight_x.scale + straight_y.scale) / 2, "×", epoch)
    yield Signal("geometry.offset_x", straight_x.offset, "px", epoch)
    yield Signal("geometry.offset_y", straight_y.offset, "px", epoch)
    yield Signal("geometry.r2", float(1 - residual**2 / variance) if variance > 0 else 0.0, "share", epoch,
                 "share of the predictions' variance the linear fit explains")
    yield Signal("geometry.fit_gain", float(raw / max(residual, 1e-9)), "×", epoch,
                 "raw error over the error left after the fit")
    yield Signal("geometry.swap_gain", float(residual / max(swapped, 1e-9)),
                 "×", epoch, "straight-fit residual over swapped-axes-fit residual")
    yield Signal("geometry.swap_r2", float(1 - swapped**2 / variance) if variance > 0 else 0.0, "share", epoch,
                 "share of the predictions' variance a linear fit against the swapped truth (x from y) explains")


class _Fit:
    def __init__(self, scale: float, offset: float, rms: float):
        self.scale, self.offset, self.rms = scale, offset, rms


def fit(x: np.ndarray, y: np.ndarray) -> _Fit:
    if np.ptp(x) == 0:
        return _Fit(0.0, float(y.mean()), float(y.std()))
    scale, offset = np.polyfit(x, y, 1)
    return _Fit(float(scale), float(offset), float(np.sqrt(np.mean((y - (scale * x + offset)) ** 2))))


@signal_family(
    "landmark",
    provides=("landmark.regressed", "landmark.regressed_count", "landmark.improved_count", "landmark.count",
              "landmark.worst_rise"),
)
def landmark_signals(run: Run):
    """Each landmark's own best validation, and how far it is above it now."""
    table = val_predictions(run)
    error = "error_mm" if "error_mm" in table and not np.isnan(table.floats("error_mm")).any() else "error_px"
    errors = table.grid("epoch", "landmark", error)
    per_epoch = errors.mean  # epoch × landmark
    if len(per_epoch) < 2:
        raise MissingInput("per-landmark predictions at two or more validations")
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark never measured: no best, NaN
        best = np.nanmin(per_epoch, axis=0)
        last, first = per_epoch[-1], per_epoch[0]
        rise = (last - best) / np.where(best > 0, best, np.nan)
        # Regressed: 20 % above its own best, by more than half a typical landmark's best error,
        # and worse than where it stood halfway through (not a landmark that is merely noisy).
        floor = 0.5 * float(np.nanmedian(best))
        halfway = per_epoch[len(per_epoch) // 2]
        regressed = [str(name) for k, name in enumerate(errors.columns)
                     if rise[k] > 0.2 and last[k] - best[k] > floor and last[k] > halfway[k]]
        improved = int(((first - last) / np.where(first > 0, first, np.nan) > 0.2).sum())
    epoch = int(errors.rows[-1])
    try:
        curve = metric_curve(run)
        epoch = curve.best_epoch
    except MissingInput:
        pass
    yield Signal("landmark.regressed", regressed, "", epoch)
    yield Signal("landmark.regressed_count", len(regressed), "landmarks", epoch)
    yield Signal("landmark.improved_count", improved, "landmarks")
    yield Signal("landmark.count", int(per_epoch.shape[1]), "landmarks")
    yield Signal("landmark.worst_rise", float(np.nanmax(rise)) if not np.isnan(rise).all() else 0.0, "change",
                 int(errors.rows[-1]))
