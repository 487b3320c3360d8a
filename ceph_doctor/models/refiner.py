"""Two-stage refinement (`model.refine`): a second, small network that looks again at each landmark on a
window of a sharper image.

Stage 1, the configured model, finds every landmark at the input resolution. Stage 2 cuts a window of
`model.refine.crop` px around each of its answers out of the same image at `model.refine.scale` times the
input resolution and says where in the window the landmark is: a soft-argmax over one map per landmark,
so the answer moves with the picture (a fully convolutional net with dilations sees the whole window).

It is trained on windows around the truth shifted by a random error of `model.refine.jitter` input px
(standing for what stage 1 gets wrong), so it learns from the first step, whatever stage 1 can do yet:
the two train jointly, or stage 2 after stage 1 (`model.refine.after_epoch`: stage 1 alone up to that
epoch, frozen after it). The refiner is the model's submodule `refiner`, so checkpoints, averaging and
the optimiser hold it with the rest; the model's own forward does not run it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Refinement:
    scale: int  # refinement image px per input px
    crop: int  # window side, refinement px
    jitter: float  # std of the training windows' offset from the truth, input px
    channels: int
    after_epoch: int | None  # None: trained with stage 1; N: stage 1 alone to epoch N, then stage 2 alone

    @classmethod
    def from_config(cls, config: dict) -> Refinement | None:
        settings = config["model"]["refine"]
        if not settings["enabled"]:
            return None
        return cls(settings["scale"], settings["crop"], settings["jitter"], settings["channels"],
                   settings["after_epoch"])

    @property
    def reach(self) -> float:
        """How far from the window's centre, in input px, a training window may be put: the truth must
        stay well inside it."""
        return 0.6 * (self.crop / 2) / self.scale

    def trains_stage_one(self, epoch: int) -> bool:
        return self.after_epoch is None or epoch <= self.after_epoch

    def trains_stage_two(self, epoch: int) -> bool:
        return self.after_epoch is None or epoch > self.after_epoch


class Refiner(nn.Module):
    """Windows (N, 1, P, P) and the landmark each is of (N,) → the landmark's position in its window,
    refinement px from the window's centre (N, 2)."""

    INITIAL_SHARPNESS = 10.0  # as the integral head's: a softmax of O(1) logits is nearly uniform

    def __init__(self, num_landmarks: int, channels: int):
        super().__init__()
        layers, width = [], 1
        for dilation in (1, 1, 2, 4, 8):  # a receptive field of 33 px: the whole window
            layers += [nn.Conv2d(width, channels, 3, padding=dilation, dilation=dilation, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            width = channels
        self.trunk = nn.Sequential(*layers)
        self.maps = nn.Conv2d(channels, num_landmarks, 1)
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(self.INITIAL_SHARPNESS)))

    def forward(self, windows: torch.Tensor, landmark: torch.Tensor) -> torch.Tensor:
        maps = self.maps(self.trunk(windows)).float()  # (N, K, P, P)
        chosen = maps[torch.arange(len(maps), device=maps.device), landmark] * self.log_sharpness.exp()
        size = chosen.shape[-1]
        weights = torch.softmax(chosen.flatten(1), dim=-1).view(-1, size, size)
        offsets = torch.arange(size, device=maps.device, dtype=torch.float32) - (size - 1) / 2
        return torch.stack([(weights.sum(1) * offsets).sum(-1), (weights.sum(2) * offsets).sum(-1)], dim=-1)


def attach_refiner(model: nn.Module, num_landmarks: int, refinement: Refinement) -> nn.Module:
    model.refiner = Refiner(num_landmarks, refinement.channels)
    return model


def windows(images: torch.Tensor, centres: torch.Tensor, refinement: Refinement) -> torch.Tensor:
    """(B*K, 1, P, P) windows of the refinement images (B, 1, H', W') around `centres` (B, K, 2) in
    input px; outside the image, zeros (the mean grey of the normalised pixels)."""
    batch, landmarks = centres.shape[:2]
    height, width = images.shape[-2:]
    scale, size = refinement.scale, refinement.crop
    centre = (centres.float() + 0.5) * scale - 0.5  # input px → refinement px, pixel centres aligned
    step = torch.arange(size, device=images.device, dtype=torch.float32) - (size - 1) / 2
    grid_y, grid_x = torch.meshgrid(step, step, indexing="ij")
    x = centre[..., 0, None, None] + grid_x  # (B, K, P, P) refinement px
    y = centre[..., 1, None, None] + grid_y
    grid = torch.stack([(x + 0.5) / width * 2 - 1, (y + 0.5) / height * 2 - 1], dim=-1)
    sampled = F.grid_sample(images.float(), grid.view(batch, landmarks * size, size, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=False)  # (B, 1, K*P, P)
    return sampled.view(batch, 1, landmarks, size, size).transpose(1, 2).reshape(batch * landmarks, 1, size, size)


def refine(refiner: nn.Module, images: torch.Tensor, centres: torch.Tensor, refinement: Refinement) -> torch.Tensor:
    """(B, K, 2) input px: each landmark where stage 2 finds it in the window around its centre."""
    batch, landmarks = centres.shape[:2]
    landmark = torch.arange(landmarks, device=images.device).repeat(batch)
    offsets = refiner(windows(images, centres, refinement), landmark).view(batch, landmarks, 2)
    return centres.float() + offsets / refinement.scale


def training_windows(points: torch.Tensor, refinement: Refinement, generator: torch.Generator) -> torch.Tensor:
    """Window centres (B, K, 2) input px for training: the truth moved by a seeded random error, kept
    within reach; where a landmark is not annotated (NaN), any centre (its loss is masked)."""
    noise = torch.randn(points.shape, generator=generator).to(points.device) * refinement.jitter
    return torch.nan_to_num(points) + noise.clamp(-refinement.reach, refinement.reach)


def refinement_loss(refiner: nn.Module, images: torch.Tensor, points: torch.Tensor, refinement: Refinement,
                    generator: torch.Generator) -> torch.Tensor:
    """Smooth-L1 (1 px), in input px, between the refined and the true points over the annotated landmarks."""
    refined = refine(refiner, images, training_windows(points, refinement, generator), refinement)
    annotated = torch.isfinite(points).all(dim=-1)
    if not annotated.any():
        return refined.sum() * 0.0
    error = F.smooth_l1_loss(refined[annotated], points[annotated], beta=1.0, reduction="none")
    return error.sum(-1).mean()
