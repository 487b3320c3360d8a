"""Loader for the CL-detection 2023 challenge layout (MICCAI 2023; 38 landmarks, 3 centres, 3 machines).

    ROOT/train-gt.json   {"points": [{"name": "1".."38", "point": [x, y, n], "scale": mm per px}, ...], ...}
    ROOT/[<folder>/]n.(bmp|png|jpg|tif)   image n of the stack, one file each

The challenge ships its images as one stacked `train_stack.mha`, zero-padded to a common size; its
preprocessing scripts write image n of the stack as `n.bmp` (1-based, as the `n` in each point), with
or without the padding removed — the points are measured from the top-left corner either way. That
export is what this loader reads, from ROOT or from the one sub-folder holding the images. Each point
carries the spacing of its image (`scale`, mm per pixel: 0.1, 0.096 or about 0.125 by machine). The
set has no split of its own: `data.val_fraction` of the images is held out, seeded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ceph_doctor.data.image_io import index_images, require_dir
from ceph_doctor.data.landmarks import CL_DETECTION_2023
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.errors import DataError

ANNOTATIONS = "train-gt.json"
STACK = "train_stack.mha"


def load_cldetection2023(root: Path) -> LandmarkSet:
    """Every annotated image of the set, in stack order."""
    root = require_dir(Path(root), f"CL-detection 2023 root, holding {ANNOTATIONS} and the exported images")
    annotations = root / ANNOTATIONS
    if not annotations.is_file():
        raise DataError(annotations, "annotation file not found (the challenge's train-gt.json)")
    points, spacing = _read_points(annotations)
    images = _find_images(root)
    records = []
    for index in sorted(points):
        path = images.get(str(index))
        if path is None:
            raise DataError(annotations, f"image {index} is annotated but no file {index}.* was found beside it")
        records.append(LandmarkRecord(str(index), points[index], spacing_mm=spacing[index], image_path=path))
    return LandmarkSet(list(CL_DETECTION_2023), records, flip_pairs=(), source="cldetection2023")


def _read_points(path: Path) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"cannot read JSON ({error})") from None
    entries = data.get("points") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(path, "expected {\"points\": [{\"name\", \"point\": [x, y, image], \"scale\"}, ...]}")
    count = len(CL_DETECTION_2023)
    points: dict[int, np.ndarray] = {}
    spacing: dict[int, float] = {}
    for number, entry in enumerate(entries, 1):
        where = f"points[{number - 1}]"
        try:
            landmark = int(entry["name"])
            x, y, index = entry["point"]
            image, scale = int(index), float(entry["scale"])
            x, y = float(x), float(y)
        except (KeyError, TypeError, ValueError):
            raise DataError(path, f"{where}: expected name \"1\"..\"{count}\", point [x, y, image] and scale") from None
        if not 1 <= landmark <= count:
            raise DataError(path, f"{where}: landmark {landmark} is not one of 1..{count}")
        if not (math.isfinite(x) and math.isfinite(y) and scale > 0 and math.isfinite(scale)):
            raise DataError(path, f"{where}: point ({x}, {y}) or scale {scale} is not a finite position and spacing")
        if image in spacing and not math.isclose(spacing[image], scale, rel_tol=1e-6):
            raise DataError(path, f"{where}: image {image} has two spacings, {spacing[image]} and {scale} mm/px")
        row = points.setdefault(image, np.full((count, 2), np.nan, np.float32))
        if np.isfinite(row[landmark - 1]).all():
            raise DataError(path, f"{where}: landmark {landmark} of image {image} is given twice")
        row[landmark - 1] = (x, y)
        spacing[image] = scale
    return points, spacing


def _find_images(root: Path) -> dict[str, Path]:
    """Images named by their stack index, in ROOT or in the one sub-folder that holds them."""
    here = {stem: path for stem, path in index_images(root).items() if stem.isdigit()}
    if here:
        return here
    folders = [folder for folder in sorted(root.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]
    found = [(folder, images) for folder in folders
             if (images := {stem: path for stem, path in index_images(folder).items() if stem.isdigit()})]
    if len(found) > 1:
        raise DataError(root, f"images in several folders ({', '.join(folder.name for folder, _ in found)}); "
                        "keep one export beside train-gt.json")
    if not found:
        hint = (f"; {STACK} is the stacked original: export one image per file first (the challenge's "
                "preprocessing script writes n.bmp)") if (root / STACK).exists() else ""
        raise DataError(root, f"no images named by their stack index (1.bmp, 2.bmp, …){hint}")
    return found[0][1]
