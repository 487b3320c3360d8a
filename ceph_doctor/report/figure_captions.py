"""What each figure of a run shows, in a sentence under it: the captions the HTML and Markdown reports print."""

from __future__ import annotations

from ceph_doctor.report.run_view import RunView


def learning_curves_caption(view: RunView) -> str:
    return ("Losses (log scale when they span more than a decade) and the monitored metric per epoch; "
            "the green line is the best epoch; a numbered marker and a dotted line mark where each diagnosis starts, "
            "and the legend below names it.")


def heatmap_caption(view: RunView) -> str:
    return (f"Mean validation error of each landmark at each validation, in {view.unit}; "
            "landmarks named by a diagnosis are coloured.")


def bars_caption(view: RunView) -> str:
    return f"Mean validation error per landmark in {view.unit}, at the best and at the last validation."


def overlay_caption(view: RunView) -> str:
    return "Truth (dots) and prediction (crosses, joined to their truth) on one validation image."


def mean_shape_caption(view: RunView) -> str:
    return ("Each landmark's mean true position (outlined dot; the shaded ellipse is the spread of the truth) "
            "with every validation image's prediction of it. Predictions for different images bunched "
            "tighter than the truth varies, or landmarks merging, is a collapse.")


def sequence_caption(view: RunView) -> str:
    return ("The same validation images scored teacher-forced and autoregressively; the gap, and an error "
            "that grows along the sequence, is exposure bias.")
