"""The figures of one run, each a PNG (bytes), or None when the run lacks the data it draws.

They draw what was recorded and what the engine concluded (a diagnosis's onset epoch, the landmarks
it names); they never judge. Runs imported from other tools' logs may have few scalar tags and no
predictions: each figure checks for its own data. Point figures live in `points.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ceph_doctor.report import figure_captions as captions
from ceph_doctor.report.drawing import (
    BEST_COLOUR,
    LAST_COLOUR,
    TRAIN_COLOUR,
    VAL_COLOUR,
    new_figure,
    severity_colour,
    to_png,
)
from ceph_doctor.report.galleries import suspect_labels, worst_images
from ceph_doctor.report.kinds import error_kind_bars, error_kinds_over_training
from ceph_doctor.report.points import mean_shape, sample_overlay
from ceph_doctor.report.run_view import RunView, plottable


# What matplotlib raises when data lie beyond the range its transforms can invert (a logged 1e308).
UNDRAWABLE = (ValueError, OverflowError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class FigureImage:
    name: str  # a file-name-safe identifier, e.g. "learning_curves"
    title: str
    caption: str
    png: bytes | None  # None: the run has the data, but it could not be drawn (the caption says why)


def run_figures(run, diagnoses: Sequence = ()) -> list[FigureImage]:
    """Every figure this run has the data for, in reading order."""
    if run is None:
        return []
    view = RunView(run)
    makers = (
        ("learning_curves", "Learning curves", captions.learning_curves_caption, learning_curves),
        ("error_heatmap", "Error per landmark and epoch", captions.heatmap_caption, error_heatmap),
        ("landmark_errors", "Error per landmark: best and last epoch", captions.bars_caption, landmark_errors),
        ("sample_overlay", "Predictions on a validation image", captions.overlay_caption, sample_overlay),
        ("mean_shape", "Predictions around the mean shape", captions.mean_shape_caption, mean_shape),
        ("error_kinds", "How each landmark is wrong", captions.kinds_caption, error_kind_bars),
        ("error_kinds_over_training", "Error kinds at each validation", captions.kinds_over_training_caption,
         error_kinds_over_training),
        ("worst_images", "The worst validation images", captions.worst_images_caption, worst_images),
        ("suspect_labels", "Suspect training labels", captions.suspect_labels_caption, suspect_labels),
        ("sequence_curves", "Teacher-forced against autoregressive", captions.sequence_caption, sequence_curves),
    )
    figures = []
    for name, title, caption, make in makers:
        try:
            with np.errstate(all="ignore"):  # logged numbers may overflow any arithmetic on them
                png = make(view, diagnoses)
        except UNDRAWABLE as error:  # values past what a plot can place; the rest of the report stands
            figures.append(FigureImage(name, title, f"Not drawn: its values cannot be placed on a plot ({error}).",
                                       None))
            continue
        if png is not None:
            figures.append(FigureImage(name, title, caption(view), png))
    return figures


# ------------------------------------------------------------------ learning curves
def learning_curves(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    losses = {tag: view.series(tag) for tag in ("train/loss", "val/loss")}
    losses = {tag: series for tag, series in losses.items() if len(series)}
    metric = view.metric_tag
    if not losses and metric is None:
        return None
    panels = int(bool(losses)) + int(metric is not None)
    figure = new_figure(5.2 * panels, 3.8)
    axes = list(figure.subplots(1, panels, squeeze=False)[0])
    if losses:
        ax = axes[0]
        for tag, series in losses.items():
            _plot_curve(ax, series, TRAIN_COLOUR if tag.startswith("train") else VAL_COLOUR, tag)
        _log_scale_if_wide(ax, losses.values())
        ax.set_title("Loss")
        ax.set_ylabel("loss (log scale)" if ax.get_yscale() == "log" else "loss")
    if metric is not None:
        ax = axes[-1]
        _plot_curve(ax, view.series(metric), VAL_COLOUR, metric)
        twin = "train/" + metric.split("/", 1)[1]
        if len(view.series(twin)):
            _plot_curve(ax, view.series(twin), TRAIN_COLOUR, f"{twin} (training subset)", dashed=True)
        ax.set_title(metric, parse_math=False)  # a tag from another tool's log: "$" is text
        ax.set_ylabel(_metric_label(view, metric))
        if view.metric_unit == "share":  # a score kept as a fraction reads as a percentage, as in the text
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    for ax in axes:
        _mark_epochs(ax, view.best_epoch, diagnoses)
        _style_epoch_axes(ax)
    return to_png(figure)


def _metric_label(view: RunView, metric: str) -> str:
    unit = {"mm": "mm", "px": "px", "%": "%", "share": "%"}.get(view.metric_unit, "")
    better = "lower is better" if view.metric_mode == "min" else "higher is better"
    return f"{metric.split('/', 1)[-1]}" + (f" ({unit}, {better})" if unit else f" ({better})")


def _plain_tick(value: float, _position=None) -> str:
    return f"{value:g}"


def _log_scale_if_wide(ax, curves) -> None:
    """Log scale when the values span more than a decade (a loss falling 100x), never for a narrow range."""
    values = np.concatenate([np.asarray(curve, float) for curve in curves])
    if len(values) and (values > 0).all() and values.max() / values.min() > 10:
        ax.set_yscale("log")


def _style_epoch_axes(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    # Below the plot: a legend inside would hide the curves it names.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)


def _plot_curve(ax, series: pd.Series, colour: str, label: str, dashed: bool = False) -> None:
    """`series`: values indexed by (fractional) epoch. Many noisy points get a smoothed line on top."""
    series = series[plottable(series.to_numpy(dtype=float))]
    if len(series) > 40:
        window = max(3, len(series) // 30)
        ax.plot(series.index, series.to_numpy(), color=colour, alpha=0.25, linewidth=0.8)
        smooth = series.rolling(window, min_periods=1, center=True).mean()
        ax.plot(smooth.index, smooth.to_numpy(), color=colour, linewidth=1.6, label=f"{label} (smoothed)")
    else:
        ax.plot(series.index, series.to_numpy(), color=colour, linewidth=1.6, linestyle="--" if dashed else "-",
                marker="o" if len(series) <= 60 else None, markersize=3, label=label)


def _mark_epochs(ax, best_epoch: int | None, diagnoses: Sequence) -> None:
    """The best epoch and where each diagnosis starts, named in the legend below the plot: labels written on
    the plot would print over each other where two diagnoses start close together."""
    if best_epoch is not None:
        ax.axvline(best_epoch, color=BEST_COLOUR, linewidth=1.2, label=f"best (epoch {best_epoch})")
    for number, diagnosis in enumerate((d for d in diagnoses if d.epoch is not None), start=1):
        colour = severity_colour(diagnosis.severity)
        ax.axvline(diagnosis.epoch, color=colour, linestyle=":", linewidth=1.2)
        ax.plot([diagnosis.epoch], [1.0], marker=f"${number}$", markersize=8, color=colour, linestyle="",
                transform=ax.get_xaxis_transform(), clip_on=False,
                label=f"{diagnosis.id} (from epoch {diagnosis.epoch})")


# ------------------------------------------------------------- per-landmark error
def error_heatmap(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    table = view.error_table()
    if table is None:
        return None
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    if not finite.size:
        return None
    low, high = float(finite.min()), float(finite.max())
    norm = LogNorm(low, high) if high / low > 8 else Normalize(low, high)  # early errors dwarf late ones
    figure = new_figure(min(11.0, 5.0 + 0.2 * table.shape[1]), 1.2 + 0.2 * table.shape[0])
    ax = figure.subplots()
    image = ax.imshow(values, aspect="auto", cmap="magma_r", norm=norm, interpolation="nearest")
    colour_bar = figure.colorbar(image, ax=ax, label=f"mean val error ({view.unit}, log scale)"
                                 if isinstance(norm, LogNorm) else f"mean val error ({view.unit})", pad=0.01)
    if isinstance(norm, LogNorm):  # plain numbers (20, 10, 6), not 2×10¹
        colour_bar.ax.yaxis.set_major_formatter(FuncFormatter(_plain_tick))
        colour_bar.ax.yaxis.set_minor_formatter(FuncFormatter(_plain_tick))
    epochs = list(table.columns)
    step = max(1, len(epochs) // 20)
    ax.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]], fontsize=8)
    ax.set_yticks(range(len(table.index)), list(table.index), fontsize=8, parse_math=False)
    ax.set_xlabel("epoch")
    ax.set_ylabel("landmark")
    if view.best_epoch in epochs:
        column = epochs.index(view.best_epoch)
        # A frame inside the column's cells and a marker above it: an outline on the cell borders of a
        # narrow column reads as a stray line.
        ax.add_patch(Rectangle((column - 0.42, -0.45), 0.84, len(table.index) - 0.1, fill=False,
                               edgecolor=BEST_COLOUR, linewidth=1.8, zorder=3))
        ax.plot([column], [1.0], marker="v", color=BEST_COLOUR, markersize=8, transform=ax.get_xaxis_transform(),
                clip_on=False)
        ax.set_title(f"best epoch {view.best_epoch}: framed, ▼", fontsize=9, color=BEST_COLOUR, loc="left")
    _emphasise_landmarks(ax.get_yticklabels(), diagnoses)
    return to_png(figure)


def landmark_errors(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    table = view.error_table()
    if table is None:
        return None
    best, last = view.best_epoch, int(table.columns[-1])
    columns = [(last, f"{'best and last' if best == last else 'last'} (epoch {last})", LAST_COLOUR)]
    if best in table.columns and best != last:
        columns.insert(0, (best, f"best (epoch {best})", BEST_COLOUR))
    names = list(table.index)
    figure = new_figure(7.5, 1.0 + 0.24 * len(names))
    ax = figure.subplots()
    height = 0.8 / len(columns)
    positions = np.arange(len(names))
    for offset, (epoch, label, colour) in enumerate(columns):
        ax.barh(positions + (offset - (len(columns) - 1) / 2) * height, table[epoch].to_numpy(dtype=float),
                height=height, color=colour, label=label)
    ax.set_yticks(positions, names, fontsize=8, parse_math=False)
    ax.invert_yaxis()  # landmark 1 on top, as in the heatmap
    ax.set_xlabel(f"mean val error ({view.unit})")
    ax.grid(axis="x", alpha=0.3)
    # Above the bars, outside them: inside the axes a legend covers the longest bar.
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(columns), frameon=False)
    _emphasise_landmarks(ax.get_yticklabels(), diagnoses)
    return to_png(figure)


def _emphasise_landmarks(labels, diagnoses: Sequence) -> None:
    """Landmarks that a diagnosis names get their tick label in its severity colour."""
    named = {}
    for diagnosis in reversed(list(diagnoses)):  # the first diagnosis naming a landmark wins
        named.update({name: severity_colour(diagnosis.severity) for name in diagnosis.landmarks})
    for label in labels:
        if label.get_text() in named:
            label.set_color(named[label.get_text()])
            label.set_fontweight("bold")


# ------------------------------------------------------------ sequence decoders
def sequence_curves(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    losses = {tag: view.series(tag) for tag in ("train/loss_tf", "val/loss_tf", "val/loss_ar")}
    losses = {tag: series for tag, series in losses.items() if len(series)}
    positions = view.error_by_position()
    if not any(tag.startswith("val/") for tag in losses) and positions is None:
        return None
    panels = int(bool(losses)) + int(positions is not None)
    figure = new_figure(5.2 * panels, 3.8)
    axes = list(figure.subplots(1, panels, squeeze=False)[0])
    if losses:
        ax = axes[0]
        colours = {"train/loss_tf": TRAIN_COLOUR, "val/loss_tf": VAL_COLOUR, "val/loss_ar": "#c0392b"}
        for tag, series in losses.items():
            _plot_curve(ax, series, colours[tag], tag)
        _log_scale_if_wide(ax, losses.values())
        _mark_epochs(ax, view.best_epoch, diagnoses)
        ax.set_title("Teacher-forced and autoregressive loss")
        _style_epoch_axes(ax)
    if positions is not None:
        ax = axes[-1]
        epochs = list(positions.index)
        norm = Normalize(min(epochs), max(epochs) if len(epochs) > 1 else min(epochs) + 1)
        for epoch, row in positions.iterrows():
            emphasised = epoch in (view.best_epoch, epochs[-1])
            ax.plot(row.index + 1, row.to_numpy(), color=_viridis(norm(epoch)), linewidth=2 if emphasised else 0.8,
                    alpha=1 if emphasised else 0.5, label=f"epoch {epoch}" if emphasised else None)
        ax.set(title="Autoregressive error along the sequence", xlabel="position in the sequence",
               ylabel="error (px)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return to_png(figure)


def _viridis(value: float):
    return colormaps["viridis"](0.85 * value)  # viridis ends in a yellow too pale to read on white
