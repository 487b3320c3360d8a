"""The one shape every dataset loader produces.

Loaders (synthetic, ISBI 2015, Aariz, generic folder) only find and validate
annotations; they return `LandmarkSet`s. The training pipeline then reads,
resizes and augments images the same way for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class LandmarkRecord:
    """One annotated image.

    `landmarks` is (K, 2) float32, x then y, in original-image pixels; a landmark
    the annotation lacks is NaN. Exactly one of `image_path` / `image` is set:
    real data is read lazily from disk, synthetic images live in memory.
    """

    image_id: str
    landmarks: np.ndarray
    spacing_mm: float | None = None
    image_path: Path | None = None
    image: np.ndarray | None = None  # uint8 grayscale, H x W
    # Per-image labels beside the landmarks, by name (a CVM stage, an age): what an auxiliary task predicts.
    labels: dict[str, float] = field(default_factory=dict)
    # Every annotator's points, (A, K, 2) pixels, NaN where one did not mark a point; None with one annotator.
    # `landmarks` is their mean; the spread between them is the annotators' own limit.
    annotations: np.ndarray | None = None

    def pixels(self) -> np.ndarray:
        """The image, uint8 grayscale H x W: the one in memory, or read from its file now."""
        from ceph_doctor.data.image_io import read_grayscale

        return self.image if self.image is not None else read_grayscale(self.image_path)


@dataclass
class LandmarkSet:
    """The records of one split plus what describes their landmarks."""

    names: tuple[str, ...]
    records: list[LandmarkRecord]
    # Pairs of landmark indices swapped by a horizontal flip (left/right twins).
    flip_pairs: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)
