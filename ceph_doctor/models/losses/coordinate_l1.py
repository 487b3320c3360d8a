"""Mean absolute error of (B, K, 2) points in [0, 1] of the image, over the annotated landmarks."""

from __future__ import annotations

import torch

OUTPUT = "points"


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    absolute = (pred.float() - target).abs().sum(dim=-1)
    return (absolute * weights).sum() / (2 * weights.sum()).clamp(min=1)
