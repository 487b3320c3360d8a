"""Signals of the steps that remake the model's own prediction: test-time augmentation (`eval.tta`) and a
refinement stage (`model.refine`). Each is judged landmark by landmark against the plain prediction.

The same validation images are predicted plain and through the later step, so each image is its own
pair; a landmark is hurt where the paired test of `signals/paired.py` finds it worse after the step
(signed-rank test over images, false-discovery control across landmarks). A step can hurt the landmarks
it gets wrong while the rest gain: the mean over landmarks hides it.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import (
    MissingInput, NotApplicable, PartNotSeen, Signal, part_unseen, signal_family, switched_off,
)
from ceph_doctor.signals.paired import landmark_changes
from ceph_doctor.signals.series import val_predictions
from ceph_doctor.store.columns import PredictionTable, grid
from ceph_doctor.store.reader import Run

_NAMES = ("hurt", "hurt_count", "helped_count", "worst_rise", "overall_change", "landmark_count")


@signal_family("tta", provides=tuple(f"tta.{name}" for name in _NAMES))
def tta_signals(run: Run):
    if switched_off(run, "eval.tta", lambda tta: not (tta.get("flip") or tta.get("scales") or tta.get("rotations"))):
        raise NotApplicable("the run has no test-time augmentation (eval.tta)")
    if part_unseen(run, lambda tag: "tta" in tag.lower(), ("tta",)):
        raise PartNotSeen("test-time augmentation", "validation predictions after test-time augmentation "
                          "(eval.tta) beside the plain ones")
    yield from changes_after(run, "tta", "tta", "test-time augmentation (eval.tta)", "the test-time views")


@signal_family("refine", provides=tuple(f"refine.{name}" for name in _NAMES))
def refine_signals(run: Run):
    if switched_off(run, "model.refine.enabled", lambda enabled: not enabled):
        raise NotApplicable("the model has no refinement stage (model.refine)")
    if part_unseen(run, lambda tag: "refine" in tag.lower(), ("refined",)):
        raise PartNotSeen("a refinement stage", "validation predictions after a refinement stage (model.refine) "
                          "beside the plain ones")
    yield from changes_after(run, "refined", "refine", "a refinement stage (model.refine)", "refinement")


def changes_after(run: Run, decode: str, family: str, step: str, by: str):
    """The `family.*` signals of the predictions recorded as `decode` against the plain ones."""
    table = run.prediction_table
    if table.empty or "decode" not in table or not (table["decode"] == decode).any():
        raise MissingInput(f"validation predictions after {step} beside the plain ones")
    remade = val_predictions(run, decode)
    epoch = int(remade["epoch"].max())
    remade = remade.where(epoch=epoch)
    plain = val_predictions(run)  # the model's own answer, as every other diagnosis reads it
    plain = plain.where(epoch=epoch)
    error = "error_mm" if "error_mm" in plain and not np.isnan(plain.floats("error_mm")).any() else "error_px"
    images = sorted(set(plain["image_id"].tolist()) | set(remade["image_id"].tolist()))
    if not len(plain) or len(images) < 3:
        raise MissingInput(f"plain predictions and those after {step} of at least 3 validation images")
    names = list(dict.fromkeys(remade["landmark"].tolist()))
    before, after = (mean_errors(rows, error, images, names) for rows in (plain, remade))
    changes = landmark_changes(before, after, names, error.removeprefix("error_"))
    rise = changes.table["relative"]
    hurt = changes.regressed
    yield Signal(f"{family}.hurt", hurt, "", epoch, f"landmarks {by} makes worse than the plain prediction")
    yield Signal(f"{family}.hurt_count", len(hurt), "landmarks", epoch)
    yield Signal(f"{family}.helped_count", len(changes.improved), "landmarks", epoch)
    yield Signal(f"{family}.worst_rise", float(rise[hurt].max()) if hurt else float(np.nanmax(rise.to_numpy(), initial=0.0)),
                 "change", epoch, f"the largest relative rise of a landmark's mean error with {by}")
    yield Signal(f"{family}.overall_change", float(changes.overall["relative"]), "change", epoch,
                 f"relative change of the mean error over all landmarks with {by}")
    yield Signal(f"{family}.landmark_count", len(names), "landmarks", epoch)


def mean_errors(table: PredictionTable, error: str, images: list[str], names: list[str]) -> np.ndarray:
    """(images, landmarks): the mean `error` of each image × landmark among the rows, NaN where there is none."""
    cells = grid(table["image_id"], table["landmark"], table.floats(error))
    row = {image: index for index, image in enumerate(cells.rows.tolist())}
    column = {name: index for index, name in enumerate(cells.columns.tolist())}
    out = np.full((len(images), len(names)), np.nan)
    for i, image in enumerate(images):
        for k, name in enumerate(names):
            if image in row and name in column:
                out[i, k] = cells.mean[row[image], column[name]]
    return out
