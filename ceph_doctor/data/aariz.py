"""Loader for the Aariz dataset layout (Khalid et al. 2023, CEPHA29 challenge).

    ROOT/<split>/Cephalograms/<id>.(png|jpg|jpeg|bmp)
    ROOT/<split>/Annotations/Cephalometric Landmarks/{Senior,Junior} Orthodontists/<id>.json
    ROOT/<split>/Annotations/CVM Stages/<id>.json           {"cvm_stage": {"value": 1..6}} (optional)
    ROOT/cephalogram_machine_mappings.csv   cephalogram_id, machine, pixel_size (mm), ...

Splits are `train`, `valid`, `test` (the dataset's Readme.txt); the authors'
reader capitalises them, so folder names match case-insensitively.
Each JSON holds `landmarks: [{landmark_id, title, symbol, value: {x, y}}]`.
Points are matched to AARIZ_29 by symbol or title, not by list position,
because nothing in the format promises an order. The truth is the mean of
the annotators that marked a point (unrounded; the authors' reader rounds up).
Where a CVM stage file exists, the image's label `cvm_stage` holds its stage.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ceph_doctor.data.aariz_landmarks import AARIZ_29, AARIZ_29_SYMBOLS, AARIZ_INDEX_BY_KEY, normalize_landmark_key
from ceph_doctor.data.image_io import index_images, require_dir
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.errors import DataError

ANNOTATOR_FOLDERS = ("Senior Orthodontists", "Junior Orthodontists")
CVM_FOLDER = "CVM Stages"
CVM_STAGES = range(1, 7)
PIXEL_SIZE_CSV = "cephalogram_machine_mappings.csv"
_SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}


def load_aariz(root: Path, split: str) -> LandmarkSet:
    """Load one split ('train', 'valid' or 'test'); spacing per image from the mapping CSV if present."""
    root = Path(root)
    require_dir(root, "Aariz root, holding train/, valid/, test/")
    split_dir = _child(root, _split_name(root, split), f"Aariz split '{split}'")
    image_dir = _child(split_dir, "Cephalograms", "Aariz images")
    annotations_dir = _child(split_dir, "Annotations", "Aariz annotations")
    landmarks_dir = _child(annotations_dir, "Cephalometric Landmarks", "Aariz landmark annotations")
    cvm_dir = _find_child(annotations_dir, CVM_FOLDER)
    annotator_dirs = [d for name in ANNOTATOR_FOLDERS if (d := _find_child(landmarks_dir, name)) is not None]
    if not annotator_dirs:
        expected = " or ".join(ANNOTATOR_FOLDERS)
        raise DataError(landmarks_dir / ANNOTATOR_FOLDERS[0], f"folder not found (expected {expected})")

    images = index_images(image_dir)
    annotations: dict[str, list[Path]] = {}
    for folder in annotator_dirs:
        for path in sorted(folder.glob("*.json")):
            if path.name.startswith("."):
                continue
            if path.stem not in images:
                # An annotation without its image means an incomplete download or
                # a renamed file; training on the rest would hide it, so stop.
                raise DataError(path, f"annotation has no image named '{path.stem}.*' in {image_dir}")
            annotations.setdefault(path.stem, []).append(path)

    csv_path = root / PIXEL_SIZE_CSV
    pixel_sizes = read_pixel_sizes(csv_path) if csv_path.is_file() else None

    records: list[LandmarkRecord] = []
    unannotated = [image_id for image_id in sorted(images) if image_id not in annotations]
    for image_id in sorted(annotations):
        readings = np.stack([read_aariz_annotation(path) for path in annotations[image_id]])
        spacing = None
        if pixel_sizes is not None:
            if image_id not in pixel_sizes:
                # Mixing mm and pixel errors in one split would corrupt every mm metric.
                raise DataError(csv_path, f"no row for cephalogram_id '{image_id}' (image {images[image_id]})")
            spacing = pixel_sizes[image_id]
        cvm_file = cvm_dir / f"{image_id}.json" if cvm_dir is not None else None
        labels = {"cvm_stage": read_cvm_stage(cvm_file)} if cvm_file is not None and cvm_file.is_file() else {}
        records.append(LandmarkRecord(image_id, _mean_of_annotators(readings), spacing_mm=spacing,
                                      image_path=images[image_id], labels=labels,
                                      annotations=readings.astype(np.float32) if len(readings) > 1 else None))

    if unannotated:
        warnings.warn(
            f"{image_dir}: {len(unannotated)} image(s) have no annotation and were skipped: {_preview(unannotated)}",
            stacklevel=2,
        )
    unmarked = [(r.image_id, AARIZ_29[k]) for r in records for k in np.flatnonzero(np.isnan(r.landmarks[:, 0]))]
    if unmarked:
        shown = [f"{image_id}/{name}" for image_id, name in unmarked]
        warnings.warn(
            f"{landmarks_dir}: {len(unmarked)} point(s) marked by no annotator are NaN: {_preview(shown)}", stacklevel=2
        )
    if not records:
        raise DataError(image_dir, "no annotated images in this split")
    return LandmarkSet(names=AARIZ_29, records=records, source="aariz")


def read_aariz_annotation(path: Path) -> np.ndarray:
    """Read one annotator's JSON: (29, 2) float32 pixels, NaN where a landmark is absent."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read annotation: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a text file (byte {error.start} is not UTF-8)") from error
    return parse_aariz_annotation(text, path)


def read_cvm_stage(path: Path) -> float:
    """One image's CVM stage file: `{"cvm_stage": {"value": 1..6}}` (the stage, as a label value)."""
    try:
        document = _json(path.read_bytes().decode("utf-8-sig"), path)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read the CVM stage: {error}") from None
    stage = document.get("cvm_stage") if isinstance(document, dict) else None
    value = stage.get("value") if isinstance(stage, dict) else stage
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in CVM_STAGES:
        raise DataError(path, f'expected {{"cvm_stage": {{"value": 1..6}}}}, got {str(document)[:80]}')
    return float(value)


def _json(text: str, path: Path):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(path, f"invalid JSON: {error.msg} (column {error.colno})", line=error.lineno) from None
    except RecursionError:
        raise DataError(path, "invalid JSON: nested too deeply") from None


def parse_aariz_annotation(text: str, path: Path) -> np.ndarray:
    document = _json(text, path)
    if not isinstance(document, dict) or "landmarks" not in document:
        expected = '{"landmarks": [{"symbol": ..., "value": {"x": ..., "y": ...}}, ...]}'
        raise DataError(path, f"no 'landmarks' key; expected {expected}")
    entries = document["landmarks"]
    if not isinstance(entries, list):
        raise DataError(path, f"'landmarks' must be a list, got {type(entries).__name__}")

    points = np.full((len(AARIZ_29), 2), np.nan, dtype=np.float32)
    for position, entry in enumerate(entries):
        where = f"landmarks[{position}]"
        if not isinstance(entry, dict):
            raise DataError(path, f"{where} must be an object, got {type(entry).__name__}")
        index = _landmark_index(entry, position, len(entries), path, where)
        if not np.isnan(points[index, 0]):
            raise DataError(path, f"{where}: {AARIZ_29[index]} appears twice")
        points[index] = _point(entry.get("value"), path, f"{where} ({AARIZ_29_SYMBOLS[index]})")
    return points


def _landmark_index(entry: dict, position: int, total: int, path: Path, where: str) -> int:
    keys = [entry[field] for field in ("symbol", "title") if isinstance(entry.get(field), str)]
    for key in keys:
        index = AARIZ_INDEX_BY_KEY.get(normalize_landmark_key(key))
        if index is not None:
            return index
    if keys:
        names = " / ".join(map(repr, keys))
        raise DataError(path, f"{where}: unknown Aariz landmark {names}; known symbols: {', '.join(AARIZ_29_SYMBOLS)}")
    if total == len(AARIZ_29):
        return position  # unnamed points: trust the dataset's order only when all 29 are there
    raise DataError(path, f"{where} has no 'symbol' or 'title' and the list has {total} entries, not {len(AARIZ_29)}")


def _point(value: object, path: Path, where: str) -> tuple[float, float]:
    if not isinstance(value, dict):
        raise DataError(path, f"{where}: 'value' must be an object with x and y")
    coords = []
    for axis in ("x", "y"):
        number = value.get(axis)
        if number is None:
            raise DataError(path, f"{where}: value.{axis} is missing")
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise DataError(path, f"{where}: value.{axis} must be a number, got {number!r}")
        if not math.isfinite(number) or number < 0:
            raise DataError(path, f"{where}: value.{axis} must be a finite pixel coordinate >= 0, got {number}")
        coords.append(float(number))
    return coords[0], coords[1]


def read_pixel_sizes(csv_path: Path) -> dict[str, float]:
    """cephalogram_id -> pixel_size (mm per pixel) from the dataset's machine mapping CSV."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise DataError(csv_path, f"unreadable CSV: {str(error).strip()}") from None
    table.columns = [str(column).strip() for column in table.columns]
    for column in ("cephalogram_id", "pixel_size"):
        if column not in table.columns:
            raise DataError(csv_path, f"missing column '{column}' (found: {', '.join(table.columns)})", line=1)
    sizes: dict[str, float] = {}
    for row_index, (image_id, text) in enumerate(zip(table["cephalogram_id"], table["pixel_size"])):
        line = row_index + 2  # header is line 1; blank lines are kept as rows
        image_id = image_id.strip()
        if not image_id and not text.strip():
            continue
        try:
            size = float(text)
        except ValueError:
            raise DataError(csv_path, f"pixel_size of '{image_id}' is not a number: {text!r}", line=line) from None
        if not math.isfinite(size) or size <= 0:
            problem = f"pixel_size of '{image_id}' must be a positive number of mm, got {text!r}"
            raise DataError(csv_path, problem, line=line)
        if sizes.get(image_id, size) != size:
            raise DataError(csv_path, f"'{image_id}' is listed twice with different pixel sizes", line=line)
        sizes[image_id] = size
    return sizes


def _mean_of_annotators(readings: np.ndarray) -> np.ndarray:
    """Mean over annotators that marked each point; NaN where none did."""
    marked = ~np.isnan(readings)
    total = np.where(marked, readings, 0.0).sum(axis=0)
    count = marked.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


def _split_name(root: Path, split: str) -> str:
    name = _SPLIT_ALIASES.get(str(split).strip().lower())
    if name is None:
        raise DataError(root, f"unknown Aariz split '{split}'; use train, valid or test")
    return name


def _find_child(parent: Path, name: str) -> Path | None:
    """`parent/name`, matching case-insensitively: releases differ ('train' vs 'Train')."""
    exact = parent / name
    if exact.is_dir():
        return exact
    matches = [p for p in parent.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _child(parent: Path, name: str, what: str) -> Path:
    found = _find_child(parent, name)
    if found is None:
        require_dir(parent / name, what)  # raises, naming the expected folder
    return found


def _preview(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")
