"""Target codecs: landmarks in input px ⇄ what the network predicts."""

from ceph_doctor.codec.heatmap import DecodedLandmarks, HeatmapCodec

__all__ = ["DecodedLandmarks", "HeatmapCodec"]
