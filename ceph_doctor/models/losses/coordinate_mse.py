"""Mean squared error of (B, K, 2) points in [0, 1] of the image, over the annotated landmarks."""

from __future__ import annotations

import torch

OUTPUT = "points"


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    squared = (pred.float() - target).square().sum(dim=-1)
    return (squared * weights).sum() / (2 * weights.sum()).clamp(min=1)
