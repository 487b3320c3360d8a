"""Adaptive Wing loss on heatmaps (Wang, Bo and Fuxin, ICCV 2019).

Squared error spends its gradient on the large background and little on the few pixels around a
peak, so small-sigma heatmaps drift towards flat. Adaptive Wing behaves like a log near zero error
on foreground pixels (target near 1: large gradient for small errors) and like squared error on the
background (target near 0), with a linear part beyond `theta` so outliers do not dominate:

    d = |y - p|,  a = alpha - y
    d < theta:  omega * ln(1 + (d / eps) ** a)
    otherwise:  A * d - C,  A and C making the two parts meet smoothly at theta

The paper's constants (alpha 2.1, omega 14, eps 1, theta 0.5); its extra foreground weight map is
left out, so the loss stays a drop-in for `heatmap_mse`.
"""

from __future__ import annotations

import torch

OUTPUT = "heatmaps"
ALPHA, OMEGA, EPSILON, THETA = 2.1, 14.0, 1.0, 0.5


def loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    pred, target = pred.float(), target.float()
    distance = (target - pred).abs()
    power = ALPHA - target
    ratio = THETA / EPSILON
    slope = OMEGA * power * ratio ** (power - 1) / (EPSILON * (1 + ratio ** power))
    offset = THETA * slope - OMEGA * torch.log1p(ratio ** power)
    near = OMEGA * torch.log1p((distance / EPSILON) ** power)
    far = slope * distance - offset
    per_pixel = torch.where(distance < THETA, near, far)
    return (per_pixel.mean(dim=(2, 3)) * weights).mean()
