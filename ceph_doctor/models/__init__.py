"""Landmark models: the architectures (`models.architectures`: a small CPU U-Net, HRNet-W18/32/48,
ResNet-18) under a head (`models.heads`: heatmaps, or a sequence decoder), trained by a loss
(`models.losses`). Each of the three is a registry: one module per choice.

Names are loaded on first use (PEP 562), so that reading a config, which lists the architectures,
does not import torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "HRNet": "ceph_doctor.models.architectures.hrnet", "UNet": "ceph_doctor.models.architectures.unet",
    "ModelConfigError": "ceph_doctor.models.build", "build_model": "ceph_doctor.models.build",
    "count_parameters": "ceph_doctor.models.build", "default_stride": "ceph_doctor.models.build",
}


def __getattr__(name: str):
    if name == "ARCHITECTURES":
        from ceph_doctor.models.architectures import names

        return names()
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ARCHITECTURES", "HRNet", "ModelConfigError", "UNet", "build_model", "count_parameters", "default_stride"]
