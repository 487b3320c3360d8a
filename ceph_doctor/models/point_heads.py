"""Heads that output points, (B, K, 2) in [0, 1] of the input image, in one pass (no sequence).

- `RegressionModel`: the backbone's features averaged over the image, then an MLP to 2K numbers
  squashed into [0, 1]: the head a fine-tuner bolts onto a pretrained backbone. It sees no position
  directly, so it must learn where things are from the features alone; one that has not learnt it
  predicts the mean shape for every image.
- `IntegralModel` (Sun et al., "Integral Human Pose Regression", ECCV 2018): the architecture's heatmap
  head, then each map's softmax (at a learnt sharpness) taken as a distribution over positions and its
  expected position returned. Differentiable end to end, so it trains on coordinate losses, and sub-pixel by construction.

Both keep the interface of `models/build.py`: `backbone`, `head`, `stride`, `num_landmarks`,
`size_multiple`, `check_input_size`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _PointsModel(nn.Module):
    def __init__(self, heatmap_model: nn.Module, num_landmarks: int):
        super().__init__()
        self.num_landmarks = num_landmarks
        self.stride = heatmap_model.stride
        self.size_multiple = heatmap_model.size_multiple
        self._check = heatmap_model.check_input_size

    def check_input_size(self, height: int, width: int) -> None:
        self._check(height, width)


class RegressionModel(_PointsModel):
    def __init__(self, heatmap_model: nn.Module, num_landmarks: int, hidden: int = 256):
        super().__init__(heatmap_model, num_landmarks)
        self.backbone = heatmap_model.backbone
        channels = self.backbone.out_channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2 * num_landmarks))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.backbone(images))).view(len(images), self.num_landmarks, 2)


class IntegralModel(_PointsModel):
    # A softmax of logits of order 1 over thousands of pixels is nearly uniform, whose expectation is the
    # image centre: the logits are scaled by a learnt temperature that starts here (about 5-20 train
    # alike on the tests' tiny images; 1, the paper's implicit value, needs several times the steps).
    INITIAL_SHARPNESS = 10.0

    def __init__(self, heatmap_model: nn.Module, num_landmarks: int):
        super().__init__(heatmap_model, num_landmarks)
        self.backbone, self.head = heatmap_model.backbone, heatmap_model.head  # maps = head(backbone(x))
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(self.INITIAL_SHARPNESS)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input_size(images.shape[-2], images.shape[-1])
        maps = self.head(self.backbone(images)).float() * self.log_sharpness.exp()
        batch, landmarks, height, width = maps.shape
        weights = torch.softmax(maps.flatten(2), dim=-1).view(batch, landmarks, height, width)
        columns = torch.arange(width, device=maps.device, dtype=maps.dtype)
        rows = torch.arange(height, device=maps.device, dtype=maps.dtype)
        x = (weights.sum(dim=2) * columns).sum(dim=-1)  # expected column, heatmap px
        y = (weights.sum(dim=3) * rows).sum(dim=-1)
        # Heatmap pixel j is centred on input px j·stride (codec/heatmap.py); [0, 1] as codec/points.py: (p + 0.5) / size.
        input_width, input_height = width * self.stride, height * self.stride
        return torch.stack(((x * self.stride + 0.5) / input_width, (y * self.stride + 0.5) / input_height), dim=-1)
