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


def _kind_radii(view: RunView) -> tuple[str, str]:
    return ("2 mm", "4 mm") if view.unit == "mm" else ("20 px", "40 px")  # px runs are judged at 0.1 mm per px


def kinds_caption(view: RunView) -> str:
    good, near = _kind_radii(view)
    return (f"Each landmark's predictions at the last validation by kind: good (within {good} of its truth), jitter "
            f"(within {near}), swap (beyond {near} and within {good} of another landmark's truth), miss (neither); "
            f"beside it the landmark's mean error, and the annotators' own disagreement where the data had two: a "
            f"landmark whose error is within it is as good as its labels.")


def kinds_over_training_caption(view: RunView) -> str:
    return ("The share of each kind at every validation, among all validation predictions and per landmark: a "
            "model learning turns misses into jitter and jitter into good; a swap share that stays is a habit, not "
            "noise.")


def worst_images_caption(view: RunView) -> str:
    from ceph_doctor.report.galleries import WORST_IMAGES

    return (f"The {WORST_IMAGES} validation images with the largest mean error at the last validation: truth (dots) "
            f"and prediction (crosses) of every landmark.")


def suspect_labels_caption(view: RunView) -> str:
    from ceph_doctor.report.galleries import SUSPECTS_SHOWN
    from ceph_doctor.signals.landmark_kinds import training_label_check

    count = len(training_label_check(view.run).pairs)
    shown = (f"all {count}" if count <= SUSPECTS_SHOWN else
             f"{SUSPECTS_SHOWN} of {count} (`ceph-doctor labels RUN --pictures DIR` draws every one)")
    return (f"Training labels the model keeps contradicting while it fits the same landmark on the other images "
            f"({shown}; swapped pairs first): the label (dot) and where the model puts the point (cross). A label "
            f"off the anatomy is the label's fault.")
