"""Random geometric and photometric augmentation of an image with its landmarks.

Image and landmarks go through the same affine matrix, so a rotation of the
picture is a rotation of the truth: the property a coordinate bug breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ceph_doctor.data.braces import IncisorTips, draw_braces


@dataclass(frozen=True)
class AugmentSettings:
    rotate_deg: float = 7.0
    scale: float = 0.10
    translate: float = 0.05
    brightness: float = 0.15
    contrast: float = 0.20
    flip: bool = False
    braces: float = 0.0  # the share of training images given synthetic braces (data/braces.py)

    @classmethod
    def from_config(cls, section: dict) -> "AugmentSettings":
        return cls(**{name: section[name] for name in cls.__dataclass_fields__})


def random_affine(rng: np.random.Generator, width: int, height: int, settings: AugmentSettings) -> np.ndarray:
    """A 2x3 matrix: rotation and zoom about the image centre, then a shift."""
    angle = rng.uniform(-settings.rotate_deg, settings.rotate_deg)
    zoom = 1.0 + rng.uniform(-settings.scale, settings.scale)
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, zoom)
    matrix[0, 2] += rng.uniform(-settings.translate, settings.translate) * width
    matrix[1, 2] += rng.uniform(-settings.translate, settings.translate) * height
    return matrix


def augment(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    settings: AugmentSettings,
    flip_pairs: tuple[tuple[int, int], ...] = (),
    incisors: IncisorTips | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return an augmented copy of a uint8 image and its (K, 2) landmarks (NaN stays NaN)."""
    height, width = image.shape
    # Drawn first, on the upright image, so the warp below moves them with the teeth; without braces the
    # generator is not touched, so runs without them augment exactly as before.
    if settings.braces > 0 and incisors is not None and rng.random() < settings.braces:
        image = draw_braces(image, landmarks, incisors, rng)
    matrix = random_affine(rng, width, height, settings)
    image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    landmarks = landmarks @ matrix[:, :2].T + matrix[:, 2]

    if settings.flip and rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, ::-1])
        landmarks = landmarks.copy()
        landmarks[:, 0] = (width - 1) - landmarks[:, 0]
        for left, right in flip_pairs:
            landmarks[[left, right]] = landmarks[[right, left]]

    gain = 1.0 + rng.uniform(-settings.contrast, settings.contrast)
    shift = rng.uniform(-settings.brightness, settings.brightness) * 255.0
    mean = float(image.mean())
    image = cv2.convertScaleAbs(image, alpha=gain, beta=shift + mean * (1.0 - gain))
    return image, landmarks.astype(np.float32)
