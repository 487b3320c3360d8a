"""Write tiny datasets in the public on-disk formats, for the loader tests.

Each writer lays files out exactly as the real download does (folder names,
file names, text format) with 64 x 80 images, and returns the truth the
loader should produce, so tests compare against numbers computed here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from ceph_doctor.data.aariz_landmarks import AARIZ_29_TITLES_AND_SYMBOLS

WIDTH, HEIGHT = 64, 80
ISBI_SPLIT_FOLDERS = {"train": "TrainingData", "test1": "Test1Data", "test2": "Test2Data"}
ISBI_DOCTORS = ("400_senior", "400_junior")
AARIZ_ANNOTATORS = ("Senior Orthodontists", "Junior Orthodontists")
AARIZ_CSV_COLUMNS = ("cephalogram_id", "machine", "pixel_size", "image_format", "mode")


def write_image(path: Path, seed: int = 0, width: int = WIDTH, height: int = HEIGHT) -> Path:
    """A small grayscale image in the format the suffix names (BMP, PNG, JPG...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)
    ok, encoded = cv2.imencode(path.suffix, pixels)
    assert ok, path
    path.write_bytes(encoded.tobytes())
    return path


def points(count: int, seed: int, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(count, 2) integer pixel points inside the image, shifted by one annotator's offset."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.integers(2, WIDTH - 4, count), rng.integers(2, HEIGHT - 4, count)], axis=1)
    return base.astype(np.float64) + np.asarray(offset)


# ISBI 2015 ---------------------------------------------------------------------------------------

ISBI_DOCTOR_OFFSETS = {"400_senior": (0.0, 0.0), "400_junior": (1.0, 3.0)}


def isbi_annotation_text(landmarks: np.ndarray) -> str:
    """19 `x,y` lines then the challenge's 8 classification lines (values irrelevant here)."""
    lines = [f"{int(x)},{int(y)}" for x, y in landmarks]
    return "\n".join(lines + ["1", "2", "1", "3", "2", "1", "1", "2"]) + "\n"


def write_isbi2015(
    root: Path, splits: dict[str, tuple[str, ...]] | None = None, doctors: tuple[str, ...] = ISBI_DOCTORS
) -> dict[str, np.ndarray]:
    """RawImage/<split folder>/NNN.bmp + AnnotationsByMD/<doctor>/NNN.txt; returns id -> mean truth."""
    splits = splits if splits is not None else {"train": ("001", "002", "003"), "test1": ("151",)}
    truth: dict[str, np.ndarray] = {}
    for split, ids in splits.items():
        for image_id in ids:
            write_image(root / "RawImage" / ISBI_SPLIT_FOLDERS[split] / f"{image_id}.bmp", seed=int(image_id))
            readings = []
            for doctor in doctors:
                landmarks = points(19, int(image_id), ISBI_DOCTOR_OFFSETS[doctor])
                path = root / "AnnotationsByMD" / doctor / f"{image_id}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(isbi_annotation_text(landmarks), newline="\r\n")  # Windows line endings: must parse
                readings.append(landmarks)
            truth[image_id] = np.mean(readings, axis=0)
    return truth


# Aariz -------------------------------------------------------------------------------------------

AARIZ_ANNOTATOR_OFFSETS = {"Senior Orthodontists": (0.0, 0.0), "Junior Orthodontists": (2.0, 1.0)}


def aariz_annotation(image_id: str, landmarks: np.ndarray, reverse: bool = False) -> dict:
    """The JSON document of one annotator, shaped like the dataset's files."""
    entries = [
        {
            "landmark_id": f"ckr{index:04d}",
            "title": title,
            "symbol": symbol,
            "value": {"x": int(landmarks[index, 0]), "y": int(landmarks[index, 1])},
        }
        for index, (title, symbol) in enumerate(AARIZ_29_TITLES_AND_SYMBOLS)
    ]
    return {
        "ceph_id": image_id,
        "landmarks": entries[::-1] if reverse else entries,
        "dataset_name": "CEPHA29: Cephalometric Landmark Detection Dataset",
    }


def aariz_landmark_dir(root: Path, split: str, annotator: str) -> Path:
    return root / split / "Annotations" / "Cephalometric Landmarks" / annotator


def write_aariz(
    root: Path,
    split: str = "train",
    images: dict[str, str] | None = None,
    annotators: tuple[str, ...] = AARIZ_ANNOTATORS,
    pixel_sizes: dict[str, float] | None = None,
    cvm_stages: dict[str, object] | None = None,
) -> dict[str, np.ndarray]:
    """<split>/Cephalograms + Annotations/...; `images` maps id -> suffix. Returns id -> mean truth.

    The junior annotator's list is written in reverse order, as a check that
    points are matched by symbol. `pixel_sizes` writes the machine mapping CSV;
    `cvm_stages` (id -> stage) the CVM stage files, `{"cvm_stage": {"value": N}}`.
    """
    images = images if images is not None else {"cks2ip8fq2a0t0": ".png", "cks2ip8fq2a0j0": ".jpg", "ckt9bmp": ".bmp"}
    truth: dict[str, np.ndarray] = {}
    for seed, (image_id, suffix) in enumerate(sorted(images.items())):
        write_image(root / split / "Cephalograms" / f"{image_id}{suffix}", seed=seed)
        readings = []
        for annotator in annotators:
            landmarks = points(29, 100 + seed, AARIZ_ANNOTATOR_OFFSETS[annotator])
            document = aariz_annotation(image_id, landmarks, reverse=annotator.startswith("Junior"))
            path = aariz_landmark_dir(root, split, annotator) / f"{image_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document, indent=2))
            readings.append(landmarks)
        truth[image_id] = np.mean(readings, axis=0)
    (root / split / "Annotations" / "CVM Stages").mkdir(parents=True, exist_ok=True)
    for image_id, stage in (cvm_stages or {}).items():
        document = {"ceph_id": image_id, "cvm_stage": {"value": stage}}
        (root / split / "Annotations" / "CVM Stages" / f"{image_id}.json").write_text(json.dumps(document))
    if pixel_sizes is not None:
        write_aariz_pixel_csv(root, pixel_sizes, images)
    return truth


def write_aariz_pixel_csv(root: Path, pixel_sizes: dict[str, float], images: dict[str, str] | None = None) -> Path:
    """cephalogram_machine_mappings.csv with the dataset's columns, BOM included."""
    path = root / "cephalogram_machine_mappings.csv"
    images = images or {}
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(AARIZ_CSV_COLUMNS)
        for image_id, size in pixel_sizes.items():
            writer.writerow([image_id, "Planmeca", size, images.get(image_id, ".png").lstrip("."), "Train"])
    return path


# Generic folder ----------------------------------------------------------------------------------

FOLDER_NAMES = ("Sella", "Nasion", "Menton")


def write_folder(
    root: Path, images: tuple[str, ...] = ("b.png", "a.jpg", "sub/c.bmp"), spacing: float | None = 0.1,
    csv_name: str = "landmarks.csv",
) -> dict[str, np.ndarray]:
    """Images plus one CSV `image,landmark,x,y[,spacing_mm]`; returns id -> (3, 2) truth.

    The last image lacks its last landmark, which the loader must give as NaN.
    """
    truth: dict[str, np.ndarray] = {}
    rows = []
    for seed, image in enumerate(images):
        write_image(root / image, seed=seed)
        landmarks = points(len(FOLDER_NAMES), 200 + seed) + 0.25
        if seed == len(images) - 1:
            landmarks[-1] = np.nan
        for name, (x, y) in zip(FOLDER_NAMES, landmarks):
            if not np.isnan(x):
                rows.append([image, name, x, y] + ([] if spacing is None else [spacing]))
        truth[Path(image).stem] = landmarks
    header = ["image", "landmark", "x", "y"] + ([] if spacing is None else ["spacing_mm"])
    write_csv(root / csv_name, [header] + rows)
    return truth


def write_csv(path: Path, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


# CL-detection 2023 ------------------------------------------------------------------------------

CL_DETECTION_SPACINGS = (0.1, 0.096, 0.125)  # the three machines' mm per pixel


def write_cldetection2023(root: Path, count: int = 3, folder: str | None = "processed_images",
                          suffix: str = ".bmp") -> dict[str, tuple[np.ndarray, float]]:
    """train-gt.json (one entry per point: name "1".."38", point [x, y, n], scale) and images n.bmp as the
    challenge's preprocessing exports the stack; returns image id -> (truth, spacing)."""
    entries, truth = [], {}
    for index in range(1, count + 1):
        landmarks = points(38, seed=100 + index)
        spacing = CL_DETECTION_SPACINGS[(index - 1) % len(CL_DETECTION_SPACINGS)]
        write_image((root / folder if folder else root) / f"{index}{suffix}", seed=index)
        for number, (x, y) in enumerate(landmarks, 1):
            entries.append({"name": str(number), "point": [float(x), float(y), index], "scale": spacing})
        truth[str(index)] = (landmarks, spacing)
    (root / "train-gt.json").write_text(json.dumps({"name": "Multiple points", "type": "Multiple points",
                                                    "points": entries, "version": {"major": 1, "minor": 0}}))
    return truth
