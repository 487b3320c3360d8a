"""Images ready for the network: resized once into memory, augmented per epoch.

Every source's images are read and resized to the model's input size a single
time, up front. That validates every file before training starts (a broken
image is reported before minute one, not in epoch 12) and keeps the per-step
cost to an affine warp and a heatmap encode.
"""

from __future__ import annotations

import time

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ceph_doctor.codec import HeatmapCodec, PointCodec
from ceph_doctor.data.augment import AugmentSettings, augment
from ceph_doctor.data.braces import incisor_tips_or_refuse
from ceph_doctor.data.records import LandmarkSet

# Fixed normalisation: X-ray intensities are all on one scale, and a constant
# keeps a checkpoint's inputs identical across datasets.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def to_input_pixels(points: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Original-image px → input px under a resize by `scale` (x, y); pixel centres aligned."""
    return (points + 0.5) * scale - 0.5


def to_original_pixels(points: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Input px → original-image px: the inverse of `to_input_pixels`."""
    return (points + 0.5) / scale - 0.5


@dataclass
class PreparedSet:
    """A split's images at input size, with what maps predictions back."""

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    image_ids: list[str]
    images: np.ndarray  # uint8 (N, H, W) at input size
    landmarks: np.ndarray  # float32 (N, K, 2) in original px
    scales: np.ndarray  # float32 (N, 2): input px per original px, x and y
    spacing_mm: np.ndarray  # float32 (N,), NaN where unknown
    original_sizes: np.ndarray  # int (N, 2): width, height
    label_names: tuple[str, ...] = ()  # the records' per-image labels, in the columns of `labels`
    labels: np.ndarray | None = None  # float32 (N, L), NaN where an image lacks the label
    sharper: np.ndarray | None = None  # uint8 (N, H', W'): the images at a refinement stage's resolution

    def __len__(self) -> int:
        return len(self.image_ids)

    def subset(self, indices) -> "PreparedSet":
        indices = list(indices)
        return PreparedSet(
            self.names,
            self.flip_pairs,
            [self.image_ids[i] for i in indices],
            self.images[indices],
            self.landmarks[indices],
            self.scales[indices],
            self.spacing_mm[indices],
            self.original_sizes[indices],
            self.label_names,
            None if self.labels is None else self.labels[indices],
            None if self.sharper is None else self.sharper[indices],
        )


def prepare(
    landmark_set: LandmarkSet,
    input_size: tuple[int, int],
    read_image: Callable,
    progress: Callable[[int], None] | None = None,
    sharper_scale: int | None = None,
) -> PreparedSet:
    """Read (or take) each record's image and resize it to `input_size` (width, height); with
    `sharper_scale`, also to that many times the input size (for a refinement stage)."""
    width, height = input_size
    count = len(landmark_set)
    images = np.empty((count, height, width), np.uint8)
    sharper = None if not sharper_scale else np.empty((count, height * sharper_scale, width * sharper_scale), np.uint8)
    scales = np.empty((count, 2), np.float32)
    sizes = np.empty((count, 2), np.int64)
    for index, record in enumerate(landmark_set.records):
        image = record.image if record.image is not None else read_image(record.image_path)
        original_height, original_width = image.shape[:2]
        interpolation = cv2.INTER_AREA if original_width > width else cv2.INTER_LINEAR
        images[index] = cv2.resize(image, (width, height), interpolation=interpolation)
        if sharper is not None:
            sharp_width, sharp_height = width * sharper_scale, height * sharper_scale
            interpolation = cv2.INTER_AREA if original_width > sharp_width else cv2.INTER_LINEAR
            sharper[index] = cv2.resize(image, (sharp_width, sharp_height), interpolation=interpolation)
        scales[index] = (width / original_width, height / original_height)
        sizes[index] = (original_width, original_height)
        if progress is not None:
            progress(1)
    return PreparedSet(
        names=tuple(landmark_set.names),
        flip_pairs=tuple(landmark_set.flip_pairs),
        image_ids=[record.image_id for record in landmark_set.records],
        images=images,
        landmarks=np.stack([record.landmarks for record in landmark_set.records]).astype(np.float32),
        scales=scales,
        spacing_mm=np.array(
            [np.nan if record.spacing_mm is None else record.spacing_mm for record in landmark_set.records],
            np.float32,
        ),
        original_sizes=sizes,
        **_labels(landmark_set),
        sharper=sharper,
    )


def _labels(landmark_set: LandmarkSet) -> dict:
    names = tuple(sorted({name for record in landmark_set.records for name in record.labels}))
    labels = np.array([[record.labels.get(name, np.nan) for name in names] for record in landmark_set.records],
                      np.float32).reshape(len(landmark_set), len(names))
    return {"label_names": names, "labels": labels}


class LandmarkDataset(Dataset):
    """Network inputs and targets (the codec's: heatmaps, or points) for one prepared split.

    Augmentation randomness is keyed on (seed, epoch, index), so a run is
    reproducible whatever the number of data-loader workers.
    """

    def __init__(
        self,
        prepared: PreparedSet,
        codec: HeatmapCodec | PointCodec,
        augment_settings: AugmentSettings | None = None,
        seed: int = 0,
        slow_by_s: float = 0.0,
    ):
        """`slow_by_s`: seconds each item waits first (faults.slow_loader_s: a slow disk or a heavy decode)."""
        self.prepared = prepared
        self.slow_by_s = slow_by_s
        self.codec = codec
        self.augment_settings = augment_settings
        self.seed = seed
        self.epoch = 0
        braces = augment_settings is not None and augment_settings.braces > 0
        self.incisors = incisor_tips_or_refuse(prepared.names) if braces else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.prepared)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.slow_by_s:
            time.sleep(self.slow_by_s)
        prepared = self.prepared
        image = prepared.images[index]
        points = to_input_pixels(prepared.landmarks[index], prepared.scales[index])
        if self.augment_settings is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            image, points = augment(image, points, rng, self.augment_settings, prepared.flip_pairs, self.incisors)
        item = {}
        if prepared.sharper is not None:  # the same augmentation at the refinement resolution: the same key
            item["sharper"] = self._sharper(index)
            item["points"] = torch.from_numpy(points.astype(np.float32))  # input px, NaN = not annotated
        targets, weights = self.codec.encode(points)
        return item | {
            "image": normalised(image),
            "targets": torch.from_numpy(targets),  # heatmaps, or points for a sequence decoder
            "weights": torch.from_numpy(weights),
            "index": torch.tensor(index),
            "labels": torch.from_numpy(prepared.labels[index]) if prepared.labels is not None else torch.zeros(0),
        }

    def _sharper(self, index: int) -> torch.Tensor:
        prepared = self.prepared
        image = prepared.sharper[index]
        if self.augment_settings is not None:
            # The warp is about the image's centre and its shift a share of its size, so one random draw
            # is the same transform at either resolution (pixel centres aligned).
            scale = prepared.scales[index] * (image.shape[1] / prepared.images.shape[2])
            points = to_input_pixels(prepared.landmarks[index], scale)
            rng = np.random.default_rng((self.seed, self.epoch, index))
            image, _ = augment(image, points, rng, self.augment_settings, prepared.flip_pairs, self.incisors)
        return normalised(image)


def normalised(image: np.ndarray) -> torch.Tensor:
    """(1, H, W) float network input of a uint8 image."""
    return torch.from_numpy(image).float().div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD).unsqueeze(0)
