"""Mean squared error per heatmap pixel, landmarks without truth weighted 0 (MMPose's KeypointMSELoss)."""

from __future__ import annotations

import torch

OUTPUT = "heatmaps"


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    squared = (pred.float() - target).pow(2).mean(dim=(2, 3))
    return (squared * weights).mean()
