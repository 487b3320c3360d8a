"""Point figures: predictions against the truth, on one validation image and around the mean shape,
at the best and at the last epoch side by side, so a collapse (predictions for different images
bunched together, landmarks merging) is seen at a glance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from ceph_doctor.report.drawing import landmark_colours, new_figure, to_png
from ceph_doctor.report.run_view import RunView

_SYNTHETIC_ID = re.compile(r"synthetic-(train|val)-(\d+)")
_MAX_BACKGROUND_PX = 900  # larger X-rays are shrunk for drawing; coordinates stay in original pixels


def sample_overlay(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    shown = view.shown_epochs()
    if not shown:
        return None
    image_id = min(view.predictions["image_id"].astype(str).unique())  # the same image in every report
    background, scale = background_image(view.run, image_id) or (None, 1.0)
    rows = {epoch: view.at_epoch(epoch) for epoch, _ in shown}
    rows = {epoch: frame[frame["image_id"].astype(str) == image_id] for epoch, frame in rows.items()}
    truth = next(iter(rows.values()))[["true_x", "true_y"]].to_numpy(float)
    if not np.isfinite(truth).all(axis=1).any():
        return None
    extent = image_extent(background, scale, truth)
    aspect = (extent[2] - extent[3]) / max(extent[1] - extent[0], 1e-9)
    figure = new_figure(3.8 * len(shown), min(3.8 * aspect + 0.4, 7.0))
    axes = figure.subplots(1, len(shown), squeeze=False)[0]
    colours = np.array(landmark_colours(len(view.run.landmarks) or int(truth.shape[0])))
    for ax, (epoch, label) in zip(axes, shown, strict=True):
        frame = rows[epoch]
        draw_on_image(ax, frame, colours, background, extent)
        ax.set_title(f"epoch {epoch} ({label}) · mean error {_mean(frame['error'])} {view.unit}", fontsize=9)
    figure.suptitle(image_id, fontsize=9, parse_math=False)  # another data set's file name: "$" is text
    add_point_key(figure)
    return to_png(figure)


def draw_on_image(ax, frame: pd.DataFrame, colours: np.ndarray, background: np.ndarray | None,
                  extent: tuple[float, float, float, float], size: float = 1.0) -> None:
    """One image's truth (dots) and predictions (crosses joined to their truth), each landmark in its colour,
    over the image where it could be had."""
    if background is not None:
        ax.imshow(background, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="bilinear")
    else:
        ax.set_facecolor("#f2f3f4")
    pred = frame[["pred_x", "pred_y"]].to_numpy(float)
    true = frame[["true_x", "true_y"]].to_numpy(float)
    colour = colours[frame["landmark_index"].to_numpy(int) % len(colours)]
    for p, t, c in zip(pred, true, colour, strict=True):
        ax.plot([t[0], p[0]], [t[1], p[1]], color=c, linewidth=0.9 * size, alpha=0.9)
    ax.scatter(true[:, 0], true[:, 1], s=22 * size, c=colour, edgecolors="white", linewidths=0.6, zorder=3)
    ax.scatter(pred[:, 0], pred[:, 1], s=30 * size, c=colour, marker="x", linewidths=1.4 * size, zorder=4)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])


def add_point_key(figure) -> None:
    """The legend of `draw_on_image`'s marks, below the figure."""
    key = [Line2D([], [], marker="o", linestyle="", color="#555", markeredgecolor="white", markersize=6),
           Line2D([], [], marker="x", linestyle="", color="#555", markersize=6, markeredgewidth=1.4),
           Line2D([], [], color="#555", linewidth=0.9)]
    figure.legend(key, ["truth", "prediction", "its error"], loc="outside lower center", ncols=3, fontsize=8,
                  frameon=False)


def mean_shape(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    shown = view.shown_epochs()
    if not shown:
        return None
    frames = {epoch: view.at_epoch(epoch) for epoch, _ in shown}
    if not any(np.isfinite(f[["true_x", "true_y"]].to_numpy(float)).all(axis=1).any() for f in frames.values()):
        return None
    names = list(view.run.landmarks) or [str(n) for n in sorted(view.predictions["landmark"].unique())]
    colours = landmark_colours(len(names))
    limits, region = _shared_limits(view, list(frames.values()))
    figure = new_figure(3.9 * len(shown) + 1.6, 4.6)
    axes = figure.subplots(1, len(shown), squeeze=False, sharex=True, sharey=True)[0]
    for ax, (epoch, label) in zip(axes, shown, strict=True):
        frame = frames[epoch]
        indices = frame["landmark_index"].to_numpy(int)
        pred = np.clip(frame[["pred_x", "pred_y"]].to_numpy(float), *region)  # far misses show at the edge
        ax.scatter(pred[:, 0], pred[:, 1], s=7, c=[colours[i % len(colours)] for i in indices], alpha=0.6,
                   linewidths=0, zorder=3)
        per_landmark = frame.assign(pred_x=pred[:, 0], pred_y=pred[:, 1]).groupby("landmark_index")
        # The median: a split cloud's mean lands between its parts, where no prediction is.
        centres = per_landmark[["true_x", "true_y"]].mean()
        guesses = per_landmark[["pred_x", "pred_y"]].median()
        landmark_colour = [colours[int(i) % len(colours)] for i in centres.index]
        for index, rows in per_landmark:
            _spread_ellipse(ax, rows[["true_x", "true_y"]].to_numpy(float), colours[int(index) % len(colours)])
        # Where most of each landmark's predictions went: shows a landmark drifting onto another.
        start, end = centres.to_numpy(float), guesses.to_numpy(float)
        shift = np.ma.masked_invalid(end - start)
        ax.quiver(start[:, 0], start[:, 1], shift[:, 0], shift[:, 1], color=landmark_colour, angles="xy",
                  scale_units="xy", scale=1, width=0.004, headwidth=4, headlength=5, zorder=4)
        ax.scatter(start[:, 0], start[:, 1], s=46, c=landmark_colour, edgecolors="black", linewidths=0.8, zorder=5)
        for index, centre in zip(centres.index, start, strict=True):
            ax.annotate(str(int(index) + 1), centre, xytext=(4, 3), textcoords="offset points", fontsize=7, zorder=6)
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[3], limits[2])  # image rows grow downwards
        ax.set_aspect("equal")
        ax.set_facecolor("#fbfcfc")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x (px, original image)", fontsize=8)
        if ax is axes[0]:
            ax.set_ylabel("y (px, original image)", fontsize=8)
        ax.set_title(f"epoch {epoch} ({label}) · mean error {_mean(frame['error'])} {view.unit}", fontsize=9)
    key = [Line2D([], [], marker="o", linestyle="", color=c, markeredgecolor="black", markersize=5) for c in colours]
    legend = figure.legend(key, [f"{k + 1} {name}" for k, name in enumerate(names)], loc="outside right upper",
                           fontsize=6.5, ncols=1 if len(names) <= 24 else 2, frameon=False, handletextpad=0.2)
    for text in legend.get_texts():
        text.set_parse_math(False)  # names from another data set's files: "$" is text
    return to_png(figure)


def _spread_ellipse(ax, points: np.ndarray, colour) -> None:
    """One standard deviation of the truth around its mean: what the predictions should spread like."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 3:
        return
    values, vectors = np.linalg.eigh(np.cov(points.T))
    values = np.sqrt(np.clip(values, 1e-6, None))
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    ax.add_patch(Ellipse(points.mean(axis=0), 2 * values[1], 2 * values[0], angle=angle, facecolor=colour,
                         alpha=0.18, edgecolor=colour, linewidth=0.8, zorder=2))


def _shared_limits(view: RunView, frames: list[pd.DataFrame]) -> tuple[tuple[float, ...], tuple[np.ndarray, ...]]:
    """Axis limits (x0, x1, y0, y1) around the truth and the predictions, and the region (low, high)
    predictions are clipped to: the image frame, or twice the truth's extent when the frame is
    unknown, so a prediction flung far away shows at the edge without shrinking the skull to a dot."""
    both = pd.concat(frames)
    true = both[["true_x", "true_y"]].to_numpy(float)
    pred = both[["pred_x", "pred_y"]].to_numpy(float)
    true, pred = true[np.isfinite(true).all(axis=1)], pred[np.isfinite(pred).all(axis=1)]
    low, high = true.min(axis=0), true.max(axis=0)
    size = max(float((high - low).max()), 1.0)
    frame = (view.run.manifest.get("dataset") or {}).get("original_size")
    if frame and len(frame) == 2:
        region_low, region_high = np.minimum(low, 0), np.maximum(high, np.asarray(frame, float))
    else:
        region_low, region_high = low - 0.5 * size, high + 0.5 * size
    if len(pred):
        pred = np.clip(pred, region_low, region_high)
        low, high = np.minimum(low, pred.min(axis=0)), np.maximum(high, pred.max(axis=0))
    pad = 0.06 * max(float((high - low).max()), 1.0)
    return (low[0] - pad, high[0] + pad, low[1] - pad, high[1] + pad), (region_low, region_high)


def image_extent(background: np.ndarray | None, scale: float, truth: np.ndarray) -> tuple[float, float, float, float]:
    """imshow extent (left, right, bottom, top) in original-image pixels."""
    if background is not None:
        height, width = background.shape[:2]
        return -0.5, width * scale - 0.5, height * scale - 0.5, -0.5
    truth = truth[np.isfinite(truth).all(axis=1)]
    low, high = truth.min(axis=0), truth.max(axis=0)
    pad = 0.15 * max(float((high - low).max()), 1.0)
    return low[0] - pad, high[0] + pad, high[1] + pad, low[1] - pad


def background_image(run, image_id: str) -> tuple[np.ndarray, float] | None:
    """The validation or training image behind the points and its scale (original pixels per drawn pixel).
    Best effort: a report without it beats no report, so any failure to re-render or read it
    (moved data, an unreadable file) gives None, and the points are drawn on a blank canvas."""
    config = run.manifest.get("config") or {}
    data = config.get("data") or {}
    try:
        if data.get("source") == "synthetic":
            image = _synthetic_image(config, image_id)
        elif data.get("root"):
            image = _image_under(Path(data["root"]), image_id)
        else:
            image = None
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    if image is None:
        return None
    scale = max(image.shape[:2]) / _MAX_BACKGROUND_PX
    if scale > 1:
        image = cv2.resize(image, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_AREA)
    return image, max(scale, 1.0)


def _synthetic_image(config: dict, image_id: str) -> np.ndarray | None:
    from ceph_doctor.data.synthetic import synthetic_image

    match = _SYNTHETIC_ID.fullmatch(image_id)
    if not match:
        return None
    width, height = config["data"]["synthetic"]["render_size"]
    # Image i depends only on (seed, split, i): it is rendered again alone.
    return synthetic_image(config["seed"], match.group(1), int(match.group(2)), int(width), int(height))


def _image_under(root: Path, image_id: str) -> np.ndarray | None:
    from ceph_doctor.data.image_io import IMAGE_SUFFIXES, read_grayscale

    if not root.is_dir():
        return None
    for path in root.rglob(f"{image_id}.*"):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return read_grayscale(path)
    return None


def _mean(errors: pd.Series) -> str:
    values = errors.to_numpy(float)
    values = values[np.isfinite(values)]
    return f"{values.mean():.2f}" if len(values) else "n/a"
