"""Test-time augmentation: a batch seen through several views, each view's points mapped back and averaged.

A view is a flip, a zoom or a small rotation about the image centre (`eval.tta`). The model is run on
each view; its points, in the view's input pixels, go back through the inverse of that view's own map
(and, for a flipped view, the left/right twins are swapped back), so every view's answer is in the
same input pixels before the mean is taken. The views are the flip (if on) crossed with the plain
image, each scale and each rotation: flip + 2 scales + 2 rotations is the common 10-view set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class View:
    flip: bool = False
    scale: float = 1.0
    angle_deg: float = 0.0

    @property
    def plain(self) -> bool:
        return not self.flip and self.scale == 1.0 and self.angle_deg == 0.0


def views_for(settings: dict) -> list[View]:
    """`eval.tta` as views, the plain image first; [] when it asks for none."""
    geometric = [View(), *(View(scale=s) for s in settings["scales"]), *(View(angle_deg=a) for a in settings["rotations"])]
    views = geometric + ([View(True, v.scale, v.angle_deg) for v in geometric] if settings["flip"] else [])
    return views if len(views) > 1 else []


def _view_to_input(view: View) -> torch.Tensor:
    """2x2 linear map, about the image centre, from a view's pixels back to the input's."""
    angle = math.radians(view.angle_deg)
    cos, sin = math.cos(angle), math.sin(angle)
    rotation_back = torch.tensor([[cos, sin], [-sin, cos]], dtype=torch.float64)  # R^T
    flip = torch.diag(torch.tensor([-1.0 if view.flip else 1.0, 1.0], dtype=torch.float64))
    return rotation_back @ flip / view.scale


def warp(images: torch.Tensor, view: View) -> torch.Tensor:
    """`images` (B, C, H, W) as the view shows them: zoomed by `scale`, turned by `angle_deg`, then flipped."""
    height, width = images.shape[-2:]
    half = torch.diag(torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64))
    # grid_sample asks, for each output pixel, where in the input it comes from: the view-to-input map,
    # written in the [-1, 1] coordinates of align_corners=True (pixel centres at the ends).
    theta = torch.linalg.inv(half) @ _view_to_input(view) @ half
    theta = torch.cat([theta, torch.zeros(2, 1, dtype=torch.float64)], dim=1).to(images)
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def points_back(points: torch.Tensor, view: View, width: int, height: int,
                flip_pairs: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """(B, K, 2) points in a view's input px → the unaugmented input's px, twins swapped back after a flip."""
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=points.dtype, device=points.device)
    linear = _view_to_input(view).to(points)
    back = (points - centre) @ linear.T + centre
    if view.flip and flip_pairs:
        order = list(range(points.shape[1]))
        for left, right in flip_pairs:
            order[left], order[right] = right, left
        back = back[:, order]
    return back
