"""Direct coordinate regression: the backbone's pooled features, an MLP, K points in [0, 1]
(see `models/point_heads.py`). `model.regression.hidden` sets the MLP's width."""

from __future__ import annotations

from torch import nn

OUTPUT = "points"
AUTOREGRESSIVE = False
DEFAULT_LOSS = "coordinate_l1"


def build(heatmap_model: nn.Module, num_landmarks: int, settings: dict) -> nn.Module:
    from ceph_doctor.models.point_heads import RegressionModel

    return RegressionModel(heatmap_model, num_landmarks, **settings)
