"""Signals from how each landmark is wrong (`ceph_doctor.landmark_errors`): the kinds of error on the validation
images (landmarks put at a neighbour's position among them), training labels the model keeps disagreeing with,
landmarks already within their annotators' disagreement, and predicted shapes unlike any annotated one."""

from __future__ import annotations

import warnings

import numpy as np

from ceph_doctor.landmark_errors import (
    KINDS, NEAR_MM, OUTLIER_Z, SWAP, Classified, KindSummary, SuspectLabels, classify, shape_model, summarise,
    suspect_labels,
)
from ceph_doctor.signals.base import MissingInput, NotApplicable, PartNotSeen, Signal, signal_family
from ceph_doctor.signals.series import plain_decode, val_predictions
from ceph_doctor.store.columns import PredictionTable, mean_per, median_per
from ceph_doctor.store.reader import Run

# "Part of the images": a landmark at another's truth on at least this share of the validation images, and on
# two of them at least. Below it, a swap is a single hard image, not a habit of the model.
SWAP_SHARE = 0.1
SWAP_IMAGES = 2
# Training-label checks read the last validations that recorded the training subset, up to this many: the
# model as it ended, not as it began (an untrained model disagrees with every label).
LABEL_VALIDATIONS = 5
# Fewer training images than this give no stable median and spread of a landmark's errors: on the scenario
# controls, with the default eight, one hard image in eight already passed for a wrong label.
LABEL_IMAGES = 30


def arrays(table: PredictionTable, image_ids: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One validation's rows as (pred, true) arrays (N, K, 2), each image's mm per px (NaN without spacing) and
    the image ids, in `image_ids`' order when given."""
    ids = image_ids if image_ids is not None else table.unique("image_id")
    landmarks = int(table["landmark_index"].max()) + 1
    position = {image: index for index, image in enumerate(ids)}
    row = np.fromiter((position.get(image, -1) for image in table["image_id"]), np.int64, len(table))
    keep = row >= 0
    row, column = row[keep], table["landmark_index"].astype(np.int64)[keep]
    pred = np.full((len(ids), landmarks, 2), np.nan)
    true = np.full((len(ids), landmarks, 2), np.nan)
    pred[row, column] = table.floats("pred_x", "pred_y")[keep]
    true[row, column] = table.floats("true_x", "true_y")[keep]
    spacing = np.full(len(ids), np.nan)
    if "error_mm" in table:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = table.floats("error_mm")[keep] / table.floats("error_px")[keep]
        usable = np.isfinite(ratio) & (ratio > 0)
        rows, medians = median_per(row[usable], ratio[usable])
        spacing[rows.astype(np.int64)] = medians
    return pred, true, spacing, ids


def landmark_names(table: PredictionTable) -> list[str]:
    """The landmarks' names in index order (a name the rows never give reads `landmark N`)."""
    index = table["landmark_index"].astype(np.int64)
    names = [f"landmark {number}" for number in range(int(index.max()) + 1)]
    _, first = np.unique(index, return_index=True)  # each index's first row gives its name
    for row in first:
        names[int(index[row])] = str(table["landmark"][row])
    return names


def _spacing_or_none(spacing: np.ndarray) -> np.ndarray | None:
    return spacing if np.isfinite(spacing).any() else None


def val_error_kinds(run: Run):
    """The last validation's error kinds: (`Classified`, `KindSummary`, epoch, images); MissingInput without
    predictions. Kept on the run: its signals and every report's table read the same."""
    if "error_kinds" not in run.memo:
        table = val_predictions(run)
        epoch = int(table["epoch"].max())
        last = table.where(epoch=epoch)
        pred, true, spacing, _ = arrays(last)
        classified = classify(pred, true, _spacing_or_none(spacing))
        run.memo["error_kinds"] = classified, summarise(classified, landmark_names(last)), epoch, len(pred)
    return run.memo["error_kinds"]


def error_kinds_by_validation(run: Run) -> list[tuple[int, KindSummary]]:
    """(epoch, `KindSummary`) at every recorded validation, oldest first: how the kinds moved while the model
    trained (a swap that grows, misses that never shrink). Kept on the run; MissingInput without predictions."""
    if "error_kinds_by_validation" not in run.memo:
        summaries = []
        table = val_predictions(run)
        for epoch in table.unique("epoch"):
            rows = table.where(epoch=epoch)
            pred, true, spacing, _ = arrays(rows)
            classified = classify(pred, true, _spacing_or_none(spacing))
            summaries.append((int(epoch), summarise(classified, landmark_names(rows))))
        run.memo["error_kinds_by_validation"] = summaries
    return run.memo["error_kinds_by_validation"]


def mean_error_per_landmark(classified: Classified, unit: str) -> np.ndarray:
    """(K,) each landmark's mean error over the images that predicted it, in `unit` (px runs are classified at
    0.1 mm per px: shown back in px)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark never predicted: no mean, NaN
        error = np.nanmean(np.where(classified.kinds >= 0, classified.error, np.nan), axis=0)
    return error * (1.0 if unit == "mm" else 10.0)


def annotator_limits(run: Run) -> dict[str, float]:
    """Each landmark's mean distance between two annotators, as the run's manifest recorded it (ceph-doctor's
    ISBI 2015 and Aariz loaders, and the synthetic data's simulated annotators); {} where there is one."""
    dataset = (run.manifest.get("dataset") or {}) if run.source == "ceph-doctor" else {}
    limits = dataset.get("annotator_disagreement") if isinstance(dataset, dict) else None
    if not isinstance(limits, dict):
        return {}
    return {str(name): float(value) for name, value in limits.items() if isinstance(value, (int, float))}


def found_elsewhere(classified: Classified) -> np.ndarray:
    """(K,) whether the model finds each landmark on the images where it does not swap it: a swap is a habit of
    a model that knows the point, not the chance landing of one that finds nothing."""
    elsewhere = np.where((classified.kinds >= 0) & (classified.kinds != SWAP), classified.error, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark never predicted: no median, not found
        return np.nan_to_num(np.nanmedian(elsewhere, axis=0), nan=np.inf) <= NEAR_MM


@signal_family(
    "errors",
    provides=("errors.epoch", "errors.swapped", "errors.swapped_count", "errors.swapped_landmarks", "errors.swap_share",
              "errors.mre", "errors.mre_if_swaps_fixed", "errors.good_share", "errors.jitter_share",
              "errors.swap_share_all", "errors.miss_share", "errors.unit"),
)
def error_kind_signals(run: Run):
    classified, summary, epoch, images = val_error_kinds(run)
    known = dict(zip(summary.names, found_elsewhere(classified)))
    habits = {pair: found for pair, found in summary.swaps.items()
              if len(found) >= SWAP_IMAGES and len(found) >= SWAP_SHARE * images and known[pair[0]]}
    ordered = sorted(habits.items(), key=lambda item: -len(item[1]))
    unit = "mm" if has_spacing(run) else "px"
    yield Signal("errors.epoch", epoch, "epoch", epoch)
    yield Signal("errors.swapped", "; ".join(f"{a} at {b}'s position on {len(found)} of {images} images"
                                            for (a, b), found in ordered), "", epoch)
    yield Signal("errors.swapped_count", len(ordered), "landmarks", epoch)
    yield Signal("errors.swapped_landmarks", list(dict.fromkeys(name for pair, _ in ordered for name in pair)), "",
                 epoch)
    yield Signal("errors.swap_share", max((len(found) / images for found in summary.swaps.values()), default=0.0),
                 "share", epoch)
    scale = 1.0 if unit == "mm" else 10.0  # px runs were judged at 0.1 mm per px: back to px for the reader
    yield Signal("errors.mre", summary.mre * scale, unit, epoch)
    yield Signal("errors.mre_if_swaps_fixed", summary.mre_if_fixed["swap"] * scale, unit, epoch)
    overall = (summary.shares * summary.counts[:, None]).sum(axis=0) / max(int(summary.counts.sum()), 1)
    for code, kind in enumerate(KINDS):
        yield Signal(f"errors.{kind}_share" if kind != "swap" else "errors.swap_share_all", float(overall[code]),
                     "share", epoch)
    yield Signal("errors.unit", unit, "", epoch)


def has_spacing(run: Run) -> bool:
    table = run.prediction_table
    return "error_mm" in table and bool(np.isfinite(table.floats("error_mm")).any())


def training_label_check(run: Run) -> SuspectLabels:
    """The labels of the recorded training subset, checked against the model's last validations. Kept on the
    run: its signals and the report's pictures of the suspects read the same."""
    if "label_check" not in run.memo:
        run.memo["label_check"] = _training_label_check(run)
    return run.memo["label_check"]


def _training_label_check(run: Run) -> SuspectLabels:
    table = run.prediction_table
    if table.empty or "split" not in table or not (table["split"] == "train").any():
        raise MissingInput("predictions on a fixed subset of training images at each validation "
                           "(the Recorder's data.train_subset)")
    table = table.where(split="train")
    decode = plain_decode(table)
    if decode is None:
        raise MissingInput("the training subset's predictions without test-time augmentation or refinement")
    table = table.where(decode=decode)
    epochs = table.unique("epoch")[-LABEL_VALIDATIONS:]
    if len(epochs) < 2:
        raise MissingInput("the training subset's predictions at two validations or more")
    ids = table.unique("image_id")
    if len(ids) < LABEL_IMAGES:
        raise MissingInput(f"predictions on {LABEL_IMAGES} or more training images at each validation "
                           f"(data.train_subset: {len(ids)} were recorded)")
    stacked = [arrays(table.where(epoch=epoch), ids) for epoch in epochs]
    pred = np.stack([item[0] for item in stacked])
    true = np.stack([item[1] for item in stacked])
    spacing = np.nanmedian(np.stack([item[2] for item in stacked]), axis=0) if has_spacing(run) else None
    return suspect_labels(pred, true, ids, landmark_names(table), spacing)


@signal_family(
    "labels",
    provides=("labels.suspect_count", "labels.suspects", "labels.swapped", "labels.swapped_count",
              "labels.landmarks", "labels.images", "labels.validations"),
)
def label_signals(run: Run):
    check = training_label_check(run)
    swapped_ids = {(image, name) for pair, images in check.swapped.items() for image in images for name in pair}
    single = [f"{image}: {name}" for image, name in check.pairs if (image, name) not in swapped_ids]
    swapped = [f"{a} ↔ {b} on {', '.join(images)}" for (a, b), images in check.swapped.items()]
    yield Signal("labels.suspect_count", len(check.pairs), "labels")
    yield Signal("labels.suspects", "; ".join(single) or "none beside the swaps", "")
    yield Signal("labels.swapped", "; ".join(swapped), "")
    yield Signal("labels.swapped_count", sum(len(images) for images in check.swapped.values()), "images")
    yield Signal("labels.landmarks", list(dict.fromkeys(name for _, name in check.pairs)), "")
    yield Signal("labels.images", check.images, "images")
    yield Signal("labels.validations", check.validations, "validations")


@signal_family(
    "annotators",
    provides=("annotators.at_limit", "annotators.at_limit_count", "annotators.count", "annotators.detail",
              "annotators.epoch"),
)
def annotator_signals(run: Run):
    """Each landmark's validation error at the last validation beside the annotators' own disagreement."""
    if run.source != "ceph-doctor":  # another tool's logs never carry the annotators' own points
        raise PartNotSeen("a second annotator", "each image's points from two annotators (ceph-doctor's ISBI 2015 "
                          "and Aariz loaders keep both)")
    dataset = run.manifest.get("dataset") or {}
    limit = dataset.get("annotator_disagreement")
    if not isinstance(limit, dict) or not limit:
        raise NotApplicable("the data has one annotation per image (ISBI 2015 and Aariz ship two annotators)")
    unit = (dataset or {}).get("annotator_disagreement_unit", "mm")
    table = val_predictions(run)
    epoch = int(table["epoch"].max())
    column = "error_mm" if unit == "mm" and "error_mm" in table else "error_px"
    last = table.where(epoch=epoch)
    errors = {str(name): float(mean) for name, mean in zip(*mean_per(last["landmark"], last.floats(column)))}
    judged = [(name, errors[name], float(value)) for name, value in limit.items()
              if value is not None and name in errors and np.isfinite(errors[name])]
    at_limit = [(name, error, value) for name, error, value in judged if error <= value]
    yield Signal("annotators.epoch", epoch, "epoch", epoch)
    yield Signal("annotators.at_limit", [name for name, _, _ in at_limit], "", epoch)
    yield Signal("annotators.at_limit_count", len(at_limit), "landmarks", epoch)
    yield Signal("annotators.count", len(judged), "landmarks", epoch)
    yield Signal("annotators.detail", "; ".join(f"{name} {error:.2f} {unit} (annotators {value:.2f} {unit})"
                                               for name, error, value in at_limit), "", epoch)


def implausible_shapes(run: Run) -> tuple[list[str], int, int]:
    """Kept on the run (see `_implausible_shapes`): its signal and every report read the same."""
    if "implausible_shapes" not in run.memo:
        run.memo["implausible_shapes"] = _implausible_shapes(run)
    return run.memo["implausible_shapes"]


def _implausible_shapes(run: Run) -> tuple[list[str], int, int]:
    """The last validation's predicted shapes that are more unusual than every annotated shape the run recorded
    (its validation and training-subset truths), by a shape model of those annotations: (image ids, images,
    epoch). Comparing with the run's own annotations, not a chi-square table, keeps the line where real shapes
    lie, however many modes the data has."""
    table = val_predictions(run)
    epoch = int(table["epoch"].max())
    pred, true, _, ids = arrays(table.where(epoch=epoch))
    truths = [true]
    everything = run.prediction_table
    if "split" in everything and (everything["split"] == "train").any():
        train = everything.where(split="train", epoch=everything["epoch"].max())
        if len(train) and int(train["landmark_index"].max()) + 1 == true.shape[1]:
            truths.append(arrays(train)[1])
    annotated = np.concatenate(truths)
    try:
        model = shape_model(annotated)
    except ValueError as error:
        raise MissingInput(f"complete annotations of more validation or training-subset images ({error})") from None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        limit = np.nanmax(model.unusual(annotated))
        scores = model.unusual(pred)
        # Every prediction carries the model's own imprecision, so predicted shapes all sit a little farther out
        # than annotated ones: a shape is implausible when it also stands out among the predictions.
        logs = np.log(np.maximum(scores, 1e-12))
        spread = np.nanmedian(np.abs(logs - np.nanmedian(logs)))
        standing_out = 0.6745 * (logs - np.nanmedian(logs)) / max(spread, 1e-9) > OUTLIER_Z
    return [image for image, score, out in zip(ids, scores, standing_out) if out and score > limit], len(ids), epoch


@signal_family("shapes", provides=("shapes.implausible", "shapes.implausible_count", "shapes.images"))
def shape_signals(run: Run):
    images, count, epoch = implausible_shapes(run)
    yield Signal("shapes.implausible", images, "", epoch)
    yield Signal("shapes.implausible_count", len(images), "images", epoch)
    yield Signal("shapes.images", count, "images", epoch)
