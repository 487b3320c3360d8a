"""Wing loss on (B, K, 2) points (Feng et al., CVPR 2018), in input pixels.

L1 and L2 give small errors a small gradient, so a regressor stops improving once most points
are close. Wing is a scaled log for errors under `w` (a large gradient for small errors) and L1
beyond it, shifted by `C` so the two parts meet:

    |x| < w:   w · ln(1 + |x| / eps)
    otherwise: |x| - C,   C = w - w · ln(1 + w / eps)

The paper's w = 10 px and eps = 2 px: errors are measured in input pixels, as the paper's are
(UNITS below), not in the [0, 1] coordinates the head predicts.
"""

from __future__ import annotations

import math

import torch

OUTPUT = "points"
UNITS = "input px"  # the pipeline scales points to the input image's pixels before calling
WIDTH, CURVATURE = 10.0, 2.0  # w and eps, px
_OFFSET = WIDTH - WIDTH * math.log1p(WIDTH / CURVATURE)


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    distance = (pred.float() - target.float()).abs()
    per_axis = torch.where(distance < WIDTH, WIDTH * torch.log1p(distance / CURVATURE), distance - _OFFSET)
    return (per_axis.sum(dim=-1) * weights).sum() / (2 * weights.sum()).clamp(min=1)
