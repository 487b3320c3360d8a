"""A second, per-image task on a landmark model's shared backbone (`model.aux`): a CVM stage, an age.

The head reads the backbone's features averaged over the image, so it shares everything the landmark
head learns from, and pulls on it: its loss reaches the backbone beside the landmarks'. It is attached
to any model of `models/build.py` without touching the model's own forward: a forward hook keeps the
backbone's last output, and `auxiliary_output` reads the head off it, so the landmark path (decoding,
sanity, compare) is the same with or without a second task, and a checkpoint holds the head as
`aux_head.*` beside `backbone.*` and `head.*`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class AuxiliaryHead(nn.Module):
    def __init__(self, channels: int, outputs: int):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, outputs))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def attach_auxiliary_head(model: nn.Module, outputs: int) -> nn.Module:
    model.aux_head = AuxiliaryHead(model.backbone.out_channels, outputs)
    model.backbone.register_forward_hook(_keep_features)
    return model


def _keep_features(module: nn.Module, inputs, output: torch.Tensor) -> None:
    module.last_features = output


def auxiliary_output(model: nn.Module) -> torch.Tensor:
    """The auxiliary head on the features of `model`'s last forward pass: (B, outputs)."""
    return model.aux_head(model.backbone.last_features).float()


@dataclass(frozen=True)
class AuxiliaryTask:
    label: str  # the data's per-image label
    kind: str  # "classes" (labels 1..classes) | "value"
    classes: int
    weight: float  # beside the landmark loss

    @classmethod
    def from_config(cls, config: dict) -> AuxiliaryTask | None:
        settings = config["model"]["aux"]
        if settings["label"] is None:
            return None
        return cls(settings["label"], settings["kind"], settings["classes"], config["loss"]["aux_weight"])

    @property
    def outputs(self) -> int:
        return self.classes if self.kind == "classes" else 1

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (classes) or L1 (value) over the images that have the label (target NaN: not)."""
        known = ~torch.isnan(target)
        if not known.any():
            return output.sum() * 0.0  # keeps the graph, adds nothing
        output, target = output[known], target[known]
        if self.kind == "classes":
            return F.cross_entropy(output, target.long() - 1)
        return F.l1_loss(output[:, 0], target)

    def predict(self, output: torch.Tensor) -> np.ndarray:
        """(B,) the predicted label: the stage 1..classes, or the value."""
        if self.kind == "classes":
            return (output.argmax(dim=1) + 1).float().cpu().numpy()
        return output[:, 0].cpu().numpy()

    def metrics(self, pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
        """Accuracy (classes) or mean absolute error (value) over the images that have the label."""
        known = ~np.isnan(true)
        if not known.any():
            return {}
        if self.kind == "classes":
            return {"accuracy": float(np.mean(pred[known] == true[known]))}
        return {"mae": float(np.mean(np.abs(pred[known] - true[known])))}

    def check_labels(self, label_names: tuple[str, ...], labels: np.ndarray | None, where: str) -> None:
        """Refuse a label the data lacks, or class labels outside 1..classes, in one line."""
        from ceph_doctor.errors import ConfigError

        if self.label not in label_names:
            offered = ", ".join(label_names) or "none"
            raise ConfigError(f"model.aux.label: {where} has no per-image label {self.label!r} (its labels: {offered})")
        values = labels[:, label_names.index(self.label)]
        values = values[~np.isnan(values)]
        if self.kind == "classes" and not np.isin(values, np.arange(1, self.classes + 1)).all():
            bad = values[~np.isin(values, np.arange(1, self.classes + 1))][0]
            raise ConfigError(f"model.aux.label: {where}'s {self.label!r} holds {bad:g}, not a class 1..{self.classes} "
                              "(model.aux.classes); use model.aux.kind=value for a number")
