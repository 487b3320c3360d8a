"""Integral regression: the architecture's heatmaps, each turned into its expected position by a
soft-argmax, K points in [0, 1] trained on coordinate losses (see `models/point_heads.py`)."""

from __future__ import annotations

from torch import nn

OUTPUT = "points"
AUTOREGRESSIVE = False
DEFAULT_LOSS = "coordinate_l1"


def build(heatmap_model: nn.Module, num_landmarks: int, settings: dict) -> nn.Module:
    from ceph_doctor.models.point_heads import IntegralModel

    return IntegralModel(heatmap_model, num_landmarks)
