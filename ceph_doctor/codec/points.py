"""Coordinate targets for sequence decoders: landmarks in input px ⇄ [0, 1] of the input image."""

from __future__ import annotations

import numpy as np
import torch

# What teacher forcing feeds in place of a landmark the image lacks: the centre (its loss weight is 0).
MISSING = 0.5


class PointCodec:
    """x, y in input px (pixel centres at integers) ⇄ (x + 0.5) / width, (y + 0.5) / height.

    `stride` is 1 (a point is read in input px) and there is no sigma: the codec
    has the members of `HeatmapCodec` that the trainer and the reports read.
    """

    stride = 1
    sigma = None

    def __init__(self, input_size: tuple[int, int]):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self._size = np.asarray(self.input_size, np.float64)

    def __repr__(self) -> str:
        return f"PointCodec(input_size={self.input_size})"

    def encode(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) input px, NaN = missing → points (K, 2) in [0, 1], weights (K,): 0 where missing or outside."""
        points = (np.asarray(landmarks, np.float64) + 0.5) / self._size
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(points).all(axis=1) & (points >= 0).all(axis=1) & (points <= 1).all(axis=1)
        points = np.where(inside[:, None], points, MISSING)
        return points.astype(np.float32), inside.astype(np.float32)

    def decode(self, points: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) in [0, 1] → input px."""
        return points.float() * torch.tensor(self.input_size, dtype=torch.float32, device=points.device) - 0.5
