"""Figures of how each landmark is wrong (`ceph_doctor.landmark_errors`): the kinds of error of every landmark at
the last validation beside its mean error and its annotators' own disagreement, and the kinds at every recorded
validation, so a swap that grows or misses that never shrink show over the training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from ceph_doctor.landmark_errors import KINDS
from ceph_doctor.report.drawing import LAST_COLOUR, new_figure, to_png
from ceph_doctor.report.run_view import RunView

# Good reads as good, a swap as something else entirely, a miss as the worst.
KIND_COLOURS = {"good": "#27ae60", "jitter": "#f5b041", "swap": "#8e44ad", "miss": "#c0392b"}
ANNOTATOR_COLOUR = "#5d6d7e"


def error_kind_bars(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    """Per landmark: its predictions by kind (stacked shares) and its mean error beside the annotators' limit."""
    from ceph_doctor.signals.base import MissingInput
    from ceph_doctor.signals.landmark_kinds import annotator_limits, mean_error_per_landmark, val_error_kinds

    try:
        classified, summary, epoch, _ = val_error_kinds(view.run)
    except MissingInput:
        return None
    names, limits = summary.names, annotator_limits(view.run)
    error = mean_error_per_landmark(classified, view.unit)
    figure = new_figure(9.0, 1.3 + 0.24 * len(names))
    shares_ax, error_ax = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = np.arange(len(names))
    left = np.zeros(len(names))
    for code, kind in enumerate(KINDS):
        shares = summary.shares[:, code]
        shares_ax.barh(positions, shares, left=left, height=0.75, color=KIND_COLOURS[kind], label=kind)
        left += shares
    shares_ax.set_yticks(positions, names, fontsize=8, parse_math=False)  # names from others' files: "$" is text
    shares_ax.invert_yaxis()  # landmark 1 on top, as in the other landmark figures
    shares_ax.set_xlim(0, 1)
    shares_ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    shares_ax.set_xlabel(f"share of validation images (epoch {epoch})", fontsize=8)
    shares_ax.tick_params(axis="x", labelsize=8)
    shares_ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(KINDS), frameon=False)
    error_ax.scatter(error, positions, s=22, color=LAST_COLOUR, zorder=3, label="model's mean error")
    limit = np.array([limits.get(name, np.nan) for name in names])
    if np.isfinite(limit).any():
        error_ax.barh(positions, limit, height=0.5, color=ANNOTATOR_COLOUR, alpha=0.35,
                      label="annotators' disagreement")
    error_ax.set_xlim(left=0)
    error_ax.set_xlabel(f"mean val error ({view.unit})", fontsize=8)
    error_ax.grid(axis="x", alpha=0.3)
    error_ax.tick_params(labelsize=8)
    error_ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False)
    return to_png(figure)


def error_kinds_over_training(view: RunView, diagnoses: Sequence = ()) -> bytes | None:
    """The share of each kind at every recorded validation: among all predictions on top, then per landmark
    (which landmark's swap stays, which one never stops missing)."""
    from ceph_doctor.signals.base import MissingInput
    from ceph_doctor.signals.landmark_kinds import error_kinds_by_validation

    try:
        history = error_kinds_by_validation(view.run)
    except MissingInput:
        return None
    if len(history) < 2:  # one validation: the bars of the last one already say it
        return None
    epochs = np.array([epoch for epoch, _ in history])
    names = history[-1][1].names
    per_landmark = np.zeros((len(history), len(names), len(KINDS)))  # (V, K, kinds)
    counts = np.zeros((len(history), len(names)))  # predictions judged per landmark: the overall shares' weights
    for row, (_, summary) in enumerate(history):
        known = min(len(summary.names), len(names))
        per_landmark[row, :known], counts[row, :known] = summary.shares[:known], summary.counts[:known]
    overall = (per_landmark * counts[:, :, None]).sum(axis=1) / np.maximum(counts.sum(axis=1), 1)[:, None]
    columns = 5
    rows = -(-len(names) // columns)
    figure = new_figure(9.0, 2.4 + 1.15 * rows)
    # Placed by hand: constrained layout measures every tick of twenty axes, most of this figure's cost.
    figure.set_layout_engine("none")
    grid = figure.add_gridspec(1 + rows, columns, height_ratios=(2.0, *[1.0] * rows), left=0.08, right=0.99,
                               top=1 - 0.5 / (2.4 + 1.15 * rows), bottom=0.5 / (2.4 + 1.15 * rows), hspace=0.55,
                               wspace=0.12)
    colours = [KIND_COLOURS[kind] for kind in KINDS]
    top = figure.add_subplot(grid[0, :])
    _kinds_area(top, epochs, overall, colours)
    top.set_title("all landmarks", fontsize=8)
    top.set_ylabel("share of val predictions", fontsize=8)
    top.legend([Patch(color=colour) for colour in colours], list(KINDS), fontsize=8, loc="lower left",
               bbox_to_anchor=(0.0, 1.08), ncols=len(KINDS), frameon=False)
    for index, name in enumerate(names):
        ax = figure.add_subplot(grid[1 + index // columns, index % columns])
        _kinds_area(ax, epochs, per_landmark[:, index], colours)
        ax.set_title(f"{index + 1} {name}", fontsize=7, parse_math=False)
        ax.tick_params(labelsize=6)
        if index % columns:
            ax.set_yticklabels([])
        if index < len(names) - columns:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("epoch", fontsize=7)
    return to_png(figure)


def _kinds_area(ax, epochs: np.ndarray, shares: np.ndarray, colours: list[str]) -> None:
    """Shares (V, kinds) stacked over the epochs."""
    ax.stackplot(epochs, shares.T, colors=colours, alpha=0.9, linewidth=0)
    ax.set_xlim(epochs[0], epochs[-1])
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.set_xticks(np.unique(np.linspace(epochs[0], epochs[-1], min(len(epochs), 5)).round()))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.tick_params(labelsize=7)
