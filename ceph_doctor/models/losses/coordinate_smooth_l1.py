"""Smooth L1 (Huber) on (B, K, 2) points in input pixels: squared under one pixel, absolute beyond.

Squared error near the truth keeps the last pixel's gradient smooth; absolute error further out
keeps a few far-off points from dominating the batch. The threshold (beta = 1 px) is in input
pixels (UNITS below): on the [0, 1] coordinates the head predicts every error would be "small".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OUTPUT = "points"
UNITS = "input px"
BETA = 1.0  # px


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    per_axis = F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=BETA)
    return (per_axis.sum(dim=-1) * weights).sum() / (2 * weights.sum()).clamp(min=1)
