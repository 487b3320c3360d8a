"""The comparison's pictures, written as PNG files: where A and B put each landmark, on the same images.

Built on `matplotlib.figure.Figure` without pyplot (no backend switch, no
figure registry) and OpenCV for the plain side-by-side images. Points stay in
original-image pixels; the input-size image in memory is stretched under them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from ceph_doctor.signals.paired import IMPROVED, REGRESSED
from ceph_doctor.data.dataset import to_input_pixels
from ceph_doctor.data.visualize import draw_landmarks

A_COLOUR, B_COLOUR, TRUE_COLOUR = "#1f618d", "#d35400", "#1e8449"
VERDICT_COLOURS = {REGRESSED: "#c0392b", IMPROVED: "#1e8449"}
VERDICT_MARKS = {REGRESSED: "▲", IMPROVED: "▼"}
DPI = 100
SAMPLE_IMAGES = 4
SAMPLE_HEIGHT_PX = 420  # small inputs are enlarged so the markers stay legible


def write_pictures(comparison, out: Path) -> list[tuple[str, str]]:
    """Every picture the comparison has data for, as (file name, title)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    pair, changes = comparison.pair, comparison.changes
    if pair is not None and changes is not None:
        written.append(_save(landmark_crops(pair, changes), out, "landmark_crops.png",
                             "Each landmark on the image where A and B differ most"))
        cv2.imwrite(str(out / "samples.png"), side_by_side(pair, comparison.a.path.name, comparison.b.path.name))
        written.append(("samples.png", "Sample images, A | B (dots: truth; crosses: prediction)"))
        written.append(_save(error_bars(changes), out, "landmark_errors.png", "Mean error per landmark, A against B"))
    if comparison.weights.compared:
        written.append(_save(weight_change(comparison.weights), out, "weight_change.png",
                             "Relative weight change ‖B−A‖/‖A‖ per module"))
    return written


def _save(figure: Figure, out: Path, name: str, title: str) -> tuple[str, str]:
    figure.savefig(out / name, dpi=DPI, facecolor="white")
    return name, title


def _extent(prepared, index: int) -> tuple[float, float, float, float]:
    """Where the input-size image lies in original pixels (pixel centres aligned, as the resize did)."""
    width, height = prepared.original_sizes[index]
    return (-0.5, width - 0.5, height - 0.5, -0.5)


def landmark_crops(pair, changes) -> Figure:
    """One small crop per landmark, on the image where A's and B's errors differ most."""
    names, true = pair.names, pair.true
    pred_a, pred_b = pair.a.result.pred, pair.b.result.pred
    prepared = pair.a.prepared
    errors = np.abs(np.linalg.norm(pred_b - true, axis=-1) - np.linalg.norm(pred_a - true, axis=-1))
    columns = min(6, len(names))
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(1.9 * columns, 2.0 * rows + 0.3), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(names):]:
        ax.set_axis_off()
    for k, (name, ax) in enumerate(zip(names, axes)):
        column = np.where(np.isfinite(errors[:, k]), errors[:, k], -1.0)
        image = int(np.argmax(column))
        points = np.stack([true[image, k], pred_a[image, k], pred_b[image, k]])
        ax.imshow(prepared.images[image], cmap="gray", vmin=0, vmax=255, extent=_extent(prepared, image))
        for pred, colour in ((pred_a, A_COLOUR), (pred_b, B_COLOUR)):
            if np.isfinite(pred[image, k]).all() and np.isfinite(true[image, k]).all():
                ax.plot(*np.stack([true[image, k], pred[image, k]]).T, color=colour, linewidth=0.8)
                ax.plot(*pred[image, k], marker="x", color=colour, markersize=6, markeredgewidth=1.6)
        ax.plot(*true[image, k], marker="o", color=TRUE_COLOUR, markersize=5, markeredgecolor="white")
        _zoom(ax, points, prepared.original_sizes[image])
        verdict = changes.table.loc[name, "verdict"]
        ax.set_title(f"{k + 1} {name} {VERDICT_MARKS.get(verdict, '')}", fontsize=8,
                     color=VERDICT_COLOURS.get(verdict, "black"))
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle("green: truth · blue: A · orange: B · ▲ regressed ▼ improved", fontsize=9)
    return figure


def _zoom(ax, points: np.ndarray, size: np.ndarray) -> None:
    finite = points[np.isfinite(points).all(axis=1)]
    width, height = float(size[0]), float(size[1])
    centre = finite.mean(axis=0) if len(finite) else np.array([width / 2, height / 2])
    reach = np.abs(finite - centre).max() if len(finite) else 0.0
    half = max(reach * 1.3, 0.08 * max(width, height))  # never tighter than 8 % of the image
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)


def side_by_side(pair, label_a: str, label_b: str) -> np.ndarray:
    """Up to SAMPLE_IMAGES images, each as A's predictions | B's predictions (BGR array)."""
    prepared = pair.a.prepared
    count = len(pair.image_ids)
    picks = np.unique(np.linspace(0, count - 1, min(SAMPLE_IMAGES, count)).round().astype(int))
    rows = []
    for index in picks:
        image = prepared.images[index]
        scale = max(1.0, SAMPLE_HEIGHT_PX / image.shape[0])
        enlarged = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)

        def on_image(points: np.ndarray) -> np.ndarray:
            return (to_input_pixels(points, prepared.scales[index]) + 0.5) * scale - 0.5

        panels = []
        for label, pred in ((f"A {label_a}", pair.a.result.pred), (f"B {label_b}", pair.b.result.pred)):
            panel = draw_landmarks(enlarged, on_image(pair.true[index]), on_image(pred[index]))
            cv2.putText(panel, f"{label} | {pair.image_ids[index]}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            panels.append(panel)
        rows.append(np.hstack([panels[0], np.full((panels[0].shape[0], 6, 3), 255, np.uint8), panels[1]]))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 6), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.vstack(rows)


def error_bars(changes) -> Figure:
    """Mean error per landmark for A and B, with the p-adjusted verdict marked on the label."""
    table = changes.table
    count = len(table)
    figure = Figure(figsize=(7.0, 0.28 * count + 1.2), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    positions = np.arange(count)
    for offset, side, colour in ((-0.2, "a", A_COLOUR), (0.2, "b", B_COLOUR)):
        ax.barh(positions + offset, table[f"error_{side}"].replace(np.inf, np.nan), height=0.4, color=colour,
                xerr=table[f"se_{side}"], error_kw={"elinewidth": 0.8, "ecolor": "#34495e"}, label=side.upper())
    labels = [f"{name} {VERDICT_MARKS.get(verdict, '')}" for name, verdict in zip(table.index, table["verdict"])]
    ax.set_yticks(positions, labels, fontsize=8)
    for tick, verdict in zip(ax.get_yticklabels(), table["verdict"]):
        tick.set_color(VERDICT_COLOURS.get(verdict, "black"))
    ax.invert_yaxis()
    ax.set_xlabel(f"mean radial error ({changes.unit}); whiskers: standard error over images")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("▲ regressed / ▼ improved: Wilcoxon over images, Benjamini–Hochberg 5 %", fontsize=9)
    return figure


def weight_change(diff, limit: int = 40) -> Figure:
    """Relative change per module (names cut as the terminal table cuts them), in the model's own order."""
    modules = diff.by_module(diff.readable_depth())
    if len(modules) > limit:  # keep the largest modules: they hold the weights that matter
        modules = modules.nlargest(limit, "numel").sort_index()
    figure = Figure(figsize=(7.0, 0.26 * len(modules) + 1.2), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    values = modules["relative_change"].replace(np.inf, np.nan).fillna(0.0)
    positions = np.arange(len(modules))
    ax.barh(positions, values, color=np.where(values == 0, "#95a5a6", B_COLOUR))
    for position, value in zip(positions, modules["relative_change"]):
        if value == 0:
            ax.text(0, position, " 0 (unchanged)", va="center", fontsize=7, color="#566573")
    ax.set_yticks(positions, modules["module"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("‖B − A‖ / ‖A‖")
    return figure
