"""A transformer decoder that emits the landmarks one after another, each step attending to the
backbone's features and fed the previous point (see `models/sequence.py`)."""

from __future__ import annotations

from torch import nn

OUTPUT = "points"
AUTOREGRESSIVE = True  # fed its previous point: teacher-forced, scheduled sampling, support example
DEFAULT_LOSS = "coordinate_l1"


def build(heatmap_model: nn.Module, num_landmarks: int, settings: dict) -> nn.Module:
    """The heatmap model's backbone under a sequence decoder (its heatmap head is dropped)."""
    from ceph_doctor.models.sequence import SequenceModel

    backbone = heatmap_model.backbone
    return SequenceModel(backbone, backbone.out_channels, heatmap_model.stride, num_landmarks,
                         heatmap_model.size_multiple, **settings)
