"""Galleries of single images: the validation images the model gets most wrong, and the training labels it keeps
contradicting (`label-noise`), each drawn on its image so a reader sees at once whether the model or the label is
at fault. The same picture of a suspect label serves the report and `ceph-doctor labels RUN --pictures DIR`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ceph_doctor.report.drawing import landmark_colours, new_figure, to_png
from ceph_doctor.report.points import add_point_key, background_image, draw_on_image, image_extent
from ceph_doctor.report.run_view import RunView
from ceph_doctor.store.columns import PredictionTable

WORST_IMAGES = 6  # a row of three, twice: enough to see a pattern, few enough to look at each
SUSPECTS_SHOWN = 24  # the report's gallery; `ceph-doctor labels RUN --pictures DIR` draws every one
ImageOf = Callable[[str], "tuple[np.ndarray, float] | None"]  # image id -> (pixels, original px per drawn px)


def worst_images(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    """The validation images with the largest mean error at the last validation, truth and predictions drawn."""
    last = view.last_epoch
    if last is None:
        return None
    frame = view.at_epoch(last)
    errors = worst_image_errors(frame)
    if len(errors) < 2:  # one image: the overlay figure already shows it
        return None
    worst = errors.index
    colours = np.array(landmark_colours(len(view.run.landmarks) or int(frame["landmark_index"].max()) + 1))
    columns = min(3, len(worst))
    rows = math.ceil(len(worst) / columns)
    figure = new_figure(3.2 * columns, 3.4 * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, image_id in zip(axes, worst):
        rows_of_image = frame[frame["image_id"].astype(str) == image_id]
        truth = rows_of_image[["true_x", "true_y"]].to_numpy(float)
        background, scale = background_image(view.run, image_id) or (None, 1.0)
        draw_on_image(ax, rows_of_image, colours, background, image_extent(background, scale, truth), size=0.7)
        ax.set_title(f"{image_id} · mean {errors[image_id]:.2f} {view.unit}", fontsize=8, parse_math=False)
    for ax in axes[len(worst):]:
        ax.set_axis_off()
    add_point_key(figure)
    return to_png(figure)


def worst_image_errors(frame: pd.DataFrame, count: int = WORST_IMAGES) -> pd.Series:
    """One validation's `count` images of largest mean error (image id -> error), the worst first."""
    errors = frame.groupby(frame["image_id"].astype(str))["error"].mean().dropna()
    return errors.sort_values(ascending=False, kind="stable").iloc[:count]


@dataclass(frozen=True)
class SuspectPicture:
    """What one picture of a suspect label shows."""

    image_id: str
    landmark: str
    landmark_index: int
    label: np.ndarray  # (2,) the annotation, in the image's pixels
    predicted: np.ndarray  # (2,) where the models put it
    others: np.ndarray  # (K, 2) the image's other annotations, for their context
    swapped_with: str | None = None
    annotators: np.ndarray | None = None  # (A, 2) each annotator's own mark of the point, where the data keeps them


def suspect_pictures(check, labels_of: Callable[[str], np.ndarray | None],
                     names: Sequence[str]) -> list[SuspectPicture]:
    """The pictures of a label check's suspects (`landmark_errors.SuspectLabels`): swapped pairs first, each pair
    together, then the rest by how far the models put the point from its label."""
    partner = {(image, a): b for (a, b), images in check.swapped.items() for image in images}
    partner |= {(image, b): a for (a, b), images in check.swapped.items() for image in images}
    index = {name: k for k, name in enumerate(names)}
    pictures = []
    for image_id, landmark in check.pairs:
        label, predicted = check.points.get((image_id, landmark), (None, None))
        others = labels_of(image_id)
        if label is None or not np.isfinite(label).all() or not np.isfinite(predicted).all():
            continue
        pictures.append(SuspectPicture(image_id, landmark, index.get(landmark, 0), np.asarray(label, float),
                                       np.asarray(predicted, float),
                                       np.empty((0, 2)) if others is None else np.asarray(others, float),
                                       partner.get((image_id, landmark))))
    return sorted(pictures, key=lambda p: (0, p.image_id, p.landmark_index) if p.swapped_with  # a pair together
                  else (1, -float(np.linalg.norm(p.predicted - p.label))))


def draw_suspect(ax, picture: SuspectPicture, image: tuple[np.ndarray, float] | None, colour) -> None:
    """A crop around a suspect label: the annotation (dot) and where the models put the point (cross), the
    image's other annotations small and grey."""
    gap = float(np.linalg.norm(picture.predicted - picture.label))
    centre = (picture.predicted + picture.label) / 2
    if image is not None:
        pixels, scale = image  # shrunk for drawing: placed back in the original pixels the points are in
        height, width = pixels.shape[0] * scale, pixels.shape[1] * scale
        half = max(0.75 * gap, 0.08 * max(height, width))
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=255, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                  interpolation="bilinear")
    else:
        half = max(0.75 * gap, 10.0)
        ax.set_facecolor("#f2f3f4")
    others = picture.others[np.isfinite(picture.others).all(axis=1)] if len(picture.others) else picture.others
    if len(others):
        ax.scatter(others[:, 0], others[:, 1], s=8, c="#d5d8dc", edgecolors="#566573", linewidths=0.4, zorder=2)
    ax.annotate("", picture.predicted, picture.label, zorder=3,
                arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1.0, "shrinkA": 3, "shrinkB": 3})
    if picture.annotators is not None:
        marks = picture.annotators[np.isfinite(picture.annotators).all(axis=1)]
        ax.scatter(marks[:, 0], marks[:, 1], s=26, facecolors="none", edgecolors=[colour], marker="^",
                   linewidths=1.0, zorder=4)
    ax.scatter(*picture.label, s=34, c=[colour], edgecolors="white", linewidths=0.8, zorder=4)
    ax.scatter(*picture.predicted, s=40, c=[colour], marker="x", linewidths=1.6, zorder=5)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)  # image rows grow downwards
    ax.set_xticks([])
    ax.set_yticks([])
    what = picture.landmark + (f" ↔ {picture.swapped_with}" if picture.swapped_with else "")
    ax.set_title(f"{picture.image_id}\n{what}", fontsize=7, parse_math=False)  # names from others' files: "$" is text


def suspect_gallery(pictures: Sequence[SuspectPicture], image_of: ImageOf, landmarks: int) -> bytes | None:
    """Up to `SUSPECTS_SHOWN` suspect labels in a grid of crops."""
    shown = list(pictures)[:SUSPECTS_SHOWN]
    if not shown:
        return None
    colours = landmark_colours(landmarks)
    columns = min(6, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure = new_figure(1.75 * columns, 1.95 * rows + 0.35)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    images: dict[str, tuple[np.ndarray, float] | None] = {}
    for ax, picture in zip(axes, shown):
        if picture.image_id not in images:
            images[picture.image_id] = image_of(picture.image_id)
        draw_suspect(ax, picture, images[picture.image_id], colours[picture.landmark_index % len(colours)])
    for ax in axes[len(shown):]:
        ax.set_axis_off()
    add_suspect_key(figure)
    return to_png(figure)


def suspect_picture(picture: SuspectPicture, image: tuple[np.ndarray, float] | None, landmarks: int) -> bytes:
    """One suspect label on its own: what `ceph-doctor labels RUN --pictures DIR` writes for each."""
    colours = landmark_colours(landmarks)
    figure = new_figure(3.4, 3.8)
    figure.set_layout_engine("none")  # one square crop: placed by hand, a third of the cost of laying it out
    ax = figure.add_axes((0.03, 0.1, 0.94, 0.8))
    draw_suspect(ax, picture, image, colours[picture.landmark_index % len(colours)])
    figure.legend(*_suspect_key(picture.annotators is not None), loc="lower center", ncols=2, fontsize=7,
                  frameon=False)
    return to_png(figure)


def add_suspect_key(figure) -> None:
    figure.legend(*_suspect_key(), loc="outside lower center", ncols=3, fontsize=7, frameon=False)


def _suspect_key(with_annotators: bool = False) -> tuple[list[Line2D], list[str]]:
    key = [Line2D([], [], marker="o", linestyle="", color="#555", markeredgecolor="white", markersize=6),
           Line2D([], [], marker="x", linestyle="", color="#555", markersize=6, markeredgewidth=1.4),
           Line2D([], [], marker="o", linestyle="", color="#d5d8dc", markeredgecolor="#566573", markersize=4)]
    names = ["the label", "where the model puts it", "the image's other labels"]
    if with_annotators:
        key.append(Line2D([], [], marker="^", linestyle="", markerfacecolor="none", markeredgecolor="#555",
                          markersize=5))
        names.append("each annotator's mark (the label is their mean)")
    return key, names


def suspect_labels(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    """The training labels of the recorded subset the model keeps contradicting (what `label-noise` lists)."""
    from ceph_doctor.signals.base import MissingInput
    from ceph_doctor.signals.landmark_kinds import landmark_names, training_label_check

    try:
        check = training_label_check(view.run)
    except MissingInput:
        return None
    if not check.pairs:
        return None
    train = view.run.prediction_table.where(split="train")
    train = train.where(epoch=train["epoch"].max())
    names = landmark_names(train)  # the check's own order of the landmarks
    labels = {str(image): _points(train.where(image_id=image), len(names)) for image in train.unique("image_id")}
    pictures = suspect_pictures(check, labels.get, names)
    return suspect_gallery(pictures, lambda image_id: background_image(view.run, image_id), len(names))


def _points(rows: PredictionTable, landmarks: int) -> np.ndarray:
    points = np.full((landmarks, 2), np.nan)
    index = rows["landmark_index"].astype(int)
    keep = index < landmarks
    points[index[keep]] = rows.floats("true_x", "true_y")[keep]
    return points
