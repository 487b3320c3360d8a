"""The heatmap training loss."""

from __future__ import annotations

import torch


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error per heatmap pixel, landmarks without truth weighted 0 (as MMPose's KeypointMSELoss)."""
    squared = (pred.float() - target).pow(2).mean(dim=(2, 3))
    return (squared * weights).mean()
