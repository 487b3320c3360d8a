"""Target codecs: landmarks in input px ⇄ what the network predicts."""

from ceph_doctor.codec.heatmap import DecodedLandmarks, HeatmapCodec
from ceph_doctor.codec.points import PointCodec

__all__ = ["DecodedLandmarks", "HeatmapCodec", "PointCodec"]
