"""Loader for the ISBI 2015 cephalometric challenge layout (Wang et al. 2016).

    ROOT/RawImage/{TrainingData,Test1Data,Test2Data}/NNN.bmp     1935 x 2400 px
    ROOT/AnnotationsByMD/{400_senior,400_junior}/NNN.txt         all 400 ids

Each annotation file starts with 19 lines `x,y` in pixels, in ISBI_2015
order; lines after them (the challenge's classification labels) are ignored.
The truth is the plain mean of the doctors' points (each doctor's are kept beside it), unrounded: the challenge
readers truncate or round it, which shifts truth by up to 0.05 mm.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ceph_doctor.data.image_io import index_images, require_dir
from ceph_doctor.data.landmarks import ISBI_2015, ISBI_SPACING_MM
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.errors import DataError

SPLIT_FOLDERS = {"train": "TrainingData", "test1": "Test1Data", "test2": "Test2Data"}
DOCTOR_FOLDERS = ("400_senior", "400_junior")
_SPLIT_ALIASES = {
    **{name: name for name in SPLIT_FOLDERS},
    **{folder.lower(): name for name, folder in SPLIT_FOLDERS.items()},
    "training": "train",
}


def load_isbi2015(root: Path, split: str) -> LandmarkSet:
    """Load one split: 'train', 'test1' or 'test2' (folder names accepted too)."""
    root = Path(root)
    require_dir(root, "ISBI 2015 root, holding RawImage/ and AnnotationsByMD/")
    image_dir = root / "RawImage" / _split_folder(root, split)
    require_dir(image_dir, f"images of ISBI 2015 split '{split}'")
    doctor_dirs = _doctor_dirs(root)

    images = index_images(image_dir)
    records: list[LandmarkRecord] = []
    unannotated: list[str] = []
    single_doctor: list[str] = []
    for image_id in sorted(images):
        present = [d / f"{image_id}.txt" for d in doctor_dirs if (d / f"{image_id}.txt").is_file()]
        if not present:
            unannotated.append(image_id)
            continue
        if len(present) < len(doctor_dirs):
            single_doctor.append(image_id)
        readings = [read_isbi_annotation(path) for path in present]
        records.append(
            LandmarkRecord(
                image_id=image_id,
                landmarks=np.mean(readings, axis=0).astype(np.float32),
                spacing_mm=ISBI_SPACING_MM,
                image_path=images[image_id],
                annotations=np.stack(readings).astype(np.float32) if len(readings) > 1 else None,
            )
        )

    # An unannotated image is skipped, not fatal: people drop extra images
    # into these folders; the warning still tells them it was left out.
    if unannotated:
        warnings.warn(
            f"{image_dir}: {len(unannotated)} image(s) have no annotation in "
            f"{', '.join(str(d) for d in doctor_dirs)} and were skipped: {_preview(unannotated)}",
            stacklevel=2,
        )
    if single_doctor:
        warnings.warn(
            f"{image_dir}: {len(single_doctor)} image(s) are annotated by one doctor only; "
            f"their truth is that doctor's points: {_preview(single_doctor)}",
            stacklevel=2,
        )
    if not records:
        raise DataError(image_dir, "no annotated images in this split")
    return LandmarkSet(names=ISBI_2015, records=records, source="isbi2015")


def read_isbi_annotation(path: Path) -> np.ndarray:
    """Read one doctor's file: (19, 2) float32 pixels."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read annotation: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a text file (byte {error.start} is not UTF-8)") from error
    return parse_isbi_annotation(text, path)


def parse_isbi_annotation(text: str, path: Path) -> np.ndarray:
    """Parse the first 19 `x,y` lines of an ISBI annotation; anything else is a DataError."""
    # Split on line endings only: str.splitlines also breaks on form feeds and
    # Unicode separators, which would make the reported line numbers wrong.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    count = len(ISBI_2015)
    if len(lines) < count:
        raise DataError(
            path,
            f"file ends after {len(lines)} line(s); expected {count} landmark lines 'x,y'",
            line=len(lines) + 1,
        )
    points = np.empty((count, 2), dtype=np.float64)
    for index, line in enumerate(lines[:count]):
        points[index] = _parse_point(line, path, index + 1)
    return points.astype(np.float32)


def _parse_point(line: str, path: Path, line_number: int) -> tuple[float, float]:
    name = ISBI_2015[line_number - 1]
    fields = line.split(",")
    if len(fields) != 2:
        shown = line.strip()[:40] or "an empty line"
        raise DataError(path, f"expected 'x,y' for {name}, got {len(fields)} field(s): {shown!r}", line=line_number)
    values = []
    for axis, field in zip("xy", fields):
        try:
            value = float(field)
        except ValueError:
            problem = f"{axis} of {name} is not a number: {field.strip()[:40]!r}"
            raise DataError(path, problem, line=line_number) from None
        if not math.isfinite(value) or value < 0:
            problem = f"{axis} of {name} must be a finite pixel coordinate >= 0, got {value}"
            raise DataError(path, problem, line=line_number)
        values.append(value)
    return values[0], values[1]


def _split_folder(root: Path, split: str) -> str:
    name = _SPLIT_ALIASES.get(str(split).strip().lower())
    if name is None:
        choices = ", ".join(f"{key} (RawImage/{folder})" for key, folder in SPLIT_FOLDERS.items())
        raise DataError(root, f"unknown ISBI 2015 split '{split}'; use one of {choices}")
    return SPLIT_FOLDERS[name]


def _doctor_dirs(root: Path) -> list[Path]:
    # Several public mirrors drop the AnnotationsByMD level; accept both.
    for base in (root / "AnnotationsByMD", root):
        found = [base / name for name in DOCTOR_FOLDERS if (base / name).is_dir()]
        if found:
            return found
    expected = root / "AnnotationsByMD" / DOCTOR_FOLDERS[0]
    layout = "AnnotationsByMD/{" + ",".join(DOCTOR_FOLDERS) + "}"
    raise DataError(expected, f"folder not found (ISBI 2015 annotations: {layout})")


def _preview(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")
