"""Build a model by architecture and head name, and count its parameters.

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
from ceph_doctor.models import architectures, heads


def default_stride(arch: str) -> int:
    """The output stride `arch` predicts at when none is asked for."""
    return architectures.get(arch).DEFAULT_STRIDE


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
    head_settings: dict | None = None,
    arch_settings: dict | None = None,
) -> nn.Module:
    """Build architecture ``arch`` (a module of `models.architectures`) predicting ``num_landmarks``.

    ``channels`` applies to the U-Net, ``width`` (18, 32 or 48) to HRNet; each architecture takes the
    settings it uses. ``stride`` is the output stride, one of the architecture's `STRIDES`; None (the
    default) means its `DEFAULT_STRIDE`, so ``build_model("hrnet", 19)`` works without naming it.
    ``head`` is a module of `models.heads`; ``head_settings`` its settings (the config section named
    after it: ``model.sequence``'s dim, layers, heads, offsets, support for the sequence decoder);
    ``arch_settings`` the architecture's own, likewise (``model.resnet``'s depth).
    """
    try:
        head_module = heads.get(head)
    except KeyError as error:
        raise ModelConfigError(error.args[0]) from None
    if num_landmarks < 1:
        raise ModelConfigError(f"model num_landmarks must be at least 1, got {num_landmarks}")
    if in_channels < 1:
        raise ModelConfigError(f"model in_channels must be at least 1, got {in_channels}")
    try:
        architecture = architectures.get(arch)
    except KeyError as error:
        raise ModelConfigError(error.args[0]) from None
    stride = architecture.DEFAULT_STRIDE if stride is None else stride
    if stride not in architecture.STRIDES:
        allowed = (f"{architecture.STRIDES[0]} (the only valid value)" if len(architecture.STRIDES) == 1
                   else f"one of {architecture.STRIDES}")
        raise ModelConfigError(f"model stride for {arch} must be {allowed}, got {stride}")
    try:
        model = architecture.build(num_landmarks, in_channels=in_channels, width=width, channels=channels,
                                   stride=stride, **(arch_settings or {}))
    except ValueError as error:
        raise ModelConfigError(str(error)) from None
    return head_module.build(model, num_landmarks, head_settings or {})


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (only those with requires_grad if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
