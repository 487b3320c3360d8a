"""The training losses: heatmaps, or coordinates for sequence decoders."""

from __future__ import annotations

import torch


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error per heatmap pixel, landmarks without truth weighted 0 (as MMPose's KeypointMSELoss)."""
    squared = (pred.float() - target).pow(2).mean(dim=(2, 3))
    return (squared * weights).mean()


def coordinate_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of (B, K, 2) points in [0, 1] of the image, over the annotated landmarks."""
    absolute = (pred.float() - target).abs().sum(dim=-1)
    return (absolute * weights).sum() / (2 * weights.sum()).clamp(min=1)


def loss_for(head: str):
    return coordinate_loss if head == "sequence" else heatmap_loss
