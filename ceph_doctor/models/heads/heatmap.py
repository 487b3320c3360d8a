"""One Gaussian heatmap per landmark at the output stride: the architecture's own head (MMPose's
HeatmapHead, HRNet's and SimpleBaseline's final convolution)."""

from __future__ import annotations

from torch import nn

OUTPUT = "heatmaps"
AUTOREGRESSIVE = False
DEFAULT_LOSS = "heatmap_mse"


def build(heatmap_model: nn.Module, num_landmarks: int, settings: dict) -> nn.Module:
    return heatmap_model
