"""Heatmap landmark models: a small CPU U-Net and HRNet-W18/32/48."""

from ceph_doctor.models.build import ARCHITECTURES, ModelConfigError, build_model, count_parameters, default_stride
from ceph_doctor.models.hrnet import HRNet
from ceph_doctor.models.unet import UNet

__all__ = ["ARCHITECTURES", "HRNet", "ModelConfigError", "UNet", "build_model", "count_parameters", "default_stride"]
