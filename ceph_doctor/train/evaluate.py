"""Run a model over a split and measure it in the original images' pixels.

Predictions are decoded from heatmaps, mapped back through the resize to
original-image pixels, and only then compared with the truth: the metric sees
exactly what a user of the model would get.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ceph_doctor.codec import HeatmapCodec
from ceph_doctor.data.dataset import PreparedSet, to_original_pixels
from ceph_doctor.metrics import MetricReport, landmark_metrics
from ceph_doctor.train.loss import heatmap_loss


@dataclass
class SplitResult:
    """One split at one validation: every image × landmark, and the metrics."""

    split: str  # "val", or "train" for the fixed training subset
    image_ids: list[str]
    pred: np.ndarray  # (N, K, 2) original px
    true: np.ndarray  # (N, K, 2) original px, NaN = not annotated
    spacing_mm: np.ndarray  # (N,), NaN = unknown
    peak: np.ndarray  # (N, K) heatmap maximum
    width: np.ndarray  # (N, K) heatmap peak width, heatmap px
    loss: float
    metrics: MetricReport


@dataclass
class ValidationResult:
    epoch: int
    step: int
    names: tuple[str, ...]
    splits: dict[str, SplitResult] = field(default_factory=dict)

    @property
    def val(self) -> SplitResult:
        return self.splits["val"]

    def scalars(self) -> dict[str, float]:
        """`val/loss`, `val/mre_mm`, … and `train/eval_loss`, `train/mre_mm`, … for the subset."""
        values: dict[str, float] = {}
        for split, result in self.splits.items():
            values[f"{split}/loss" if split == "val" else f"{split}/eval_loss"] = result.loss
            for name, value in result.metrics.overall.items():
                values[f"{split}/{name}"] = float(value)
        return values


@torch.no_grad()
def evaluate_split(
    split: str,
    model: nn.Module,
    loader: DataLoader,
    prepared: PreparedSet,
    codec: HeatmapCodec,
    device: torch.device,
    autocast=nullcontext,
    skip_stride_rescale: bool = False,
) -> SplitResult:
    was_training = model.training
    model.eval()
    count, num_landmarks = len(prepared), len(prepared.names)
    coords = np.empty((count, num_landmarks, 2), np.float32)
    peak = np.empty((count, num_landmarks), np.float32)
    width = np.empty((count, num_landmarks), np.float32)
    loss_sum = 0.0
    for batch in loader:
        images = batch["image"].to(device, non_blocking=True)
        with autocast():
            heatmaps = model(images)
        heatmaps = heatmaps.float()
        targets = batch["heatmaps"].to(device, non_blocking=True)
        weights = batch["weights"].to(device, non_blocking=True)
        loss_sum += heatmap_loss(heatmaps, targets, weights).item() * len(images)
        decoded = codec.decode(heatmaps)
        index = batch["index"].numpy()
        coords[index] = decoded.coords.cpu().numpy()
        peak[index] = decoded.peak.cpu().numpy()
        width[index] = decoded.width.cpu().numpy()
    model.train(was_training)
    if skip_stride_rescale:  # the deliberate coordinate bug of faults.skip_stride_rescale
        coords /= codec.stride

    pred = to_original_pixels(coords, prepared.scales[:, None, :])
    return SplitResult(
        split=split,
        image_ids=list(prepared.image_ids),
        pred=pred,
        true=prepared.landmarks,
        spacing_mm=prepared.spacing_mm,
        peak=peak,
        width=width,
        loss=loss_sum / max(1, count),
        metrics=measure(pred, prepared),
    )


def measure(pred: np.ndarray, prepared: PreparedSet) -> MetricReport:
    """Metrics of predictions (original px) against a split's truth; in mm where spacing is known."""
    spacing = prepared.spacing_mm
    return landmark_metrics(pred, prepared.landmarks, None if np.isnan(spacing).all() else spacing, names=prepared.names)
