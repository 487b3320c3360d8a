"""Build a heatmap model by name, and count its parameters.

Every model built here has the same shape of interface, which the trainer and
the checkpoint tools rely on:

- children ``backbone`` (image -> features at the output stride) and ``head``
  (features -> one heatmap per landmark, or with ``head="sequence"`` the
  landmarks' coordinates one after another, see ``sequence.py``), so
  ``backbone.*`` weights can be loaded from another checkpoint and the backbone
  frozen;
- int attributes ``stride`` (output stride), ``num_landmarks`` and
  ``size_multiple`` (input H and W must be divisible by it), and a method
  ``check_input_size(height, width)`` that raises ``ValueError`` otherwise.
"""

from __future__ import annotations

from torch import nn

from ceph_doctor.errors import ConfigError
from ceph_doctor.models.hrnet import VALID_HRNET_WIDTHS, HRNet
from ceph_doctor.models.sequence import SequenceModel
from ceph_doctor.models.unet import VALID_UNET_STRIDES, UNet

ARCHITECTURES = ("unet", "hrnet")
HEADS = ("heatmap", "sequence")
DEFAULT_UNET_STRIDE = 2


def default_stride(arch: str) -> int:
    """The output stride `arch` predicts at when none is asked for."""
    return HRNet.stride if arch == "hrnet" else DEFAULT_UNET_STRIDE


class ModelConfigError(ConfigError, ValueError):
    """A bad model setting: a ConfigError for the CLI, a ValueError for callers."""


def build_model(
    arch: str,
    num_landmarks: int,
    *,
    in_channels: int = 1,
    width: int = 32,
    channels: int = 16,
    stride: int | None = None,
    head: str = "heatmap",
    sequence: dict | None = None,
) -> nn.Module:
    """Build ``arch`` ("unet" or "hrnet") predicting ``num_landmarks`` heatmaps.

    ``channels`` applies to the U-Net, ``width`` (18, 32 or 48) to HRNet.
    ``stride`` is the output stride: 1, 2 or 4 for the U-Net, only 4 for
    HRNet; None (the default) means the architecture's default (U-Net 2,
    HRNet 4), so ``build_model("hrnet", 19)`` works without naming it.
    ``sequence`` holds the sequence head's settings (dim, layers, heads,
    offsets, support: the config's ``model.sequence``).
    """
    if head not in HEADS:
        raise ModelConfigError(f"model head must be one of {HEADS}, got {head!r}")
    if num_landmarks < 1:
        raise ModelConfigError(f"model num_landmarks must be at least 1, got {num_landmarks}")
    if in_channels < 1:
        raise ModelConfigError(f"model in_channels must be at least 1, got {in_channels}")
    if arch == "unet":
        stride = default_stride(arch) if stride is None else stride
        if stride not in VALID_UNET_STRIDES:
            raise ModelConfigError(f"model stride for unet must be one of {VALID_UNET_STRIDES}, got {stride}")
        if channels < 1:
            raise ModelConfigError(f"model channels for unet must be at least 1, got {channels}")
        model = UNet(num_landmarks, in_channels=in_channels, channels=channels, stride=stride)
        return model if head == "heatmap" else sequence_model(model, num_landmarks, sequence or {})
    if arch == "hrnet":
        if width not in VALID_HRNET_WIDTHS:
            raise ModelConfigError(f"model width for hrnet must be one of {VALID_HRNET_WIDTHS}, got {width}")
        if stride is not None and stride != HRNet.stride:
            raise ModelConfigError(
                f"model stride for hrnet must be {HRNet.stride} (the only valid value), got {stride}"
            )
        model = HRNet(num_landmarks, width=width, in_channels=in_channels)
        return model if head == "heatmap" else sequence_model(model, num_landmarks, sequence or {})
    raise ModelConfigError(f"model arch must be one of {ARCHITECTURES}, got {arch!r}")


def sequence_model(heatmap_model: nn.Module, num_landmarks: int, settings: dict) -> SequenceModel:
    """The heatmap model's backbone under a sequence head (its heatmap head is dropped)."""
    backbone = heatmap_model.backbone
    return SequenceModel(backbone, backbone.out_channels, heatmap_model.stride, num_landmarks,
                         heatmap_model.size_multiple, **settings)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (only those with requires_grad if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
