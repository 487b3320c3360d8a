"""`ceph-doctor labels RUN`: the training-label check over the whole training set, not just the subset the
recorder evaluates at each validation.

The run's last epoch checkpoints (up to `LABEL_VALIDATIONS`) are run over every training image the run trained
on (its own config, deliberate faults included), and `landmark_errors.suspect_labels` reads their predictions
as `label-noise` reads the recorded subset: labels the models keep contradicting while they fit the same
landmark elsewhere, and pairs of one image that look swapped.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ceph_doctor.compare.checkpoint_file import read_checkpoint
from ceph_doctor.compare.evaluate import complete_config, evaluate_on
from ceph_doctor.errors import UserInputError
from ceph_doctor.landmark_errors import SuspectLabels, annotator_disagreement, suspect_labels
from ceph_doctor.signals.landmark_kinds import LABEL_IMAGES, LABEL_VALIDATIONS

_EPOCH_FILE = re.compile(r"epoch_(\d+)\.pth$")


@dataclass(frozen=True)
class LabelCheck:
    run: Path
    checkpoints: list[Path]
    result: SuspectLabels
    training: object  # the training split as the run trained on it (`data.records.LandmarkSet`): the pictures' images


def epoch_checkpoints(run: Path, count: int = LABEL_VALIDATIONS) -> list[Path]:
    """The run's last `count` epoch checkpoints, oldest first; `last.pth` where the run kept no epoch files."""
    folder = run / "checkpoints"
    if not (run / "manifest.json").is_file():
        raise UserInputError(f"{run}: not a ceph-doctor run (no manifest.json)")
    found = sorted((path for path in folder.glob("epoch_*.pth") if _EPOCH_FILE.search(path.name)),
                   key=lambda path: int(_EPOCH_FILE.search(path.name).group(1))) if folder.is_dir() else []
    if not found and (folder / "last.pth").is_file():
        found = [folder / "last.pth"]
    if not found:
        raise UserInputError(f"{folder}: no checkpoints to check the labels with (train.checkpoint_every_val keeps "
                             "one per validation)")
    return found[-count:]


def check_labels(run: Path, progress: Callable[[str, int], Callable[[int], None]] | None = None,
                 count: int = LABEL_VALIDATIONS) -> LabelCheck:
    from ceph_doctor.pipeline import load_splits

    paths = epoch_checkpoints(Path(run), count)
    checkpoints = [read_checkpoint(path) for path in paths]
    if checkpoints[-1].config is None:
        raise UserInputError(f"{paths[-1]}: holds no training config to rebuild its model from")
    config = complete_config(checkpoints[-1].config, str(paths[-1]))
    records = load_splits(config)[0]  # the training labels as this run trained on them
    if len(records) < LABEL_IMAGES:
        raise UserInputError(f"{run}: {len(records)} training images; the check needs {LABEL_IMAGES} or more to "
                             "tell a wrong label from a hard image")
    cache: dict = {}
    results = [evaluate_on(checkpoint, config, records, path.name, cache, progress).result
               for checkpoint, path in zip(checkpoints, paths)]
    pred = np.stack([result.pred for result in results])
    true = np.stack([result.true for result in results])
    spacing = results[0].spacing_mm if np.isfinite(results[0].spacing_mm).any() else None
    found = suspect_labels(pred, true, list(results[0].image_ids), list(records.names), spacing)
    return LabelCheck(Path(run), paths, found, records)


@dataclass(frozen=True)
class AnnotatorCheck:
    """What the annotators themselves say of each suspect label, where the data has two or more per image (ISBI
    2015, Aariz): how far apart they put that point on that image, beside how far apart they put that landmark on
    the training images on average. Far apart on the suspect too: the point itself is hard to mark there; close
    together: both marked it so, and the model's disagreement points at the label's use (a swap in loading, a
    wrong file), or at the model."""

    apart: dict[tuple[str, str], float]  # (image, landmark) of a suspect -> its annotators' distance
    usual: dict[str, float]  # landmark -> the annotators' mean distance over the training images
    unit: str  # "mm" where every image has a spacing, else "px"


def annotator_check(check: LabelCheck) -> AnnotatorCheck | None:
    """None where no suspect's image has two annotators."""
    records = {record.image_id: record for record in check.training.records}
    names = list(check.training.names)
    unit = "mm" if all(record.spacing_mm for record in records.values()) else "px"
    spacing = [record.spacing_mm if unit == "mm" else None for record in records.values()]
    usual = annotator_disagreement([record.annotations for record in records.values()], spacing)
    if usual is None:
        return None
    apart = {}
    for image, landmark in check.result.pairs:
        record = records.get(image)
        if record is None or record.annotations is None or len(record.annotations) < 2 or landmark not in names:
            continue
        one = annotator_disagreement([record.annotations], [record.spacing_mm if unit == "mm" else None])
        if one is not None and np.isfinite(one[names.index(landmark)]):
            apart[(image, landmark)] = float(one[names.index(landmark)])
    if not apart:
        return None
    return AnnotatorCheck(apart, {name: float(value) for name, value in zip(names, usual) if np.isfinite(value)},
                          unit)


def write_pictures(check: LabelCheck, folder: Path) -> list[Path]:
    """One picture per suspect label (`report.galleries.suspect_picture`), swapped pairs first, into `folder`:
    `001-<image>-<landmark>.png`, … Returns the files written."""
    from ceph_doctor.atomic import atomic_write_bytes
    from ceph_doctor.report.galleries import suspect_picture, suspect_pictures

    records = {record.image_id: record for record in check.training.records}
    names = list(check.training.names)
    pictures = suspect_pictures(check.result, lambda image: records[image].landmarks if image in records else None,
                                names)
    written = []
    for number, picture in enumerate(pictures, start=1):
        record = records.get(picture.image_id)
        image = (record.pixels(), 1.0) if record is not None else None
        if record is not None and record.annotations is not None and len(record.annotations) > 1:
            picture = dataclasses.replace(picture, annotators=record.annotations[:, picture.landmark_index])
        path = Path(folder) / f"{number:03d}-{_file_safe(picture.image_id)}-{_file_safe(picture.landmark)}.png"
        atomic_write_bytes(path, suspect_picture(picture, image, len(names)))
        written.append(path)
    return written


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "_"
