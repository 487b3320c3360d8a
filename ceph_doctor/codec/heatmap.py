"""Gaussian heatmap targets and their decoding with DARK sub-pixel refinement.

Coordinate convention (one place, used both ways so encode and decode are exact
inverses):

* input px: pixel centres sit on integer coordinates, so input pixel (row r,
  column c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5] and the image spans
  [-0.5, W - 0.5] x [-0.5, H - 0.5] — the same convention as
  ``ceph_doctor.data.dataset.to_input_pixels``.
* heatmap pixel (i, j) has its centre on input coordinate (x, y) = (j * stride,
  i * stride), so heatmap coordinate = input coordinate / stride. This is where
  a stride-s 3x3 convolution with padding 1 centres its outputs, and it is why
  the heatmap has ceil(W / stride) columns (the output size of such a conv).

Decoding follows DARK (Zhang et al. 2020, "Distribution-Aware Coordinate
Representation for Human Pose Estimation"): argmax, blur with a Gaussian matched
to ``sigma``, take the log (a Gaussian's log is an exact quadratic), then one
Newton step ``-H^-1 g`` from finite differences, the curvature from points two
pixels apart as MMPose's ``refine_keypoints_dark`` does. Differences, each for a
reason given where it is made: batched in torch; the step bounded by the peak's
own width, not by a pixel; and where the blur window would leave the map, a
Gaussian fitted to the pixels that are there (``gaussian_fit.py``) instead of a
blur that mixes in the zeros beyond the edge. ``python benchmarks/dark_decoder.py``
measures both against MMPose's decoder on the same heatmaps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ceph_doctor.codec.gaussian_fit import fit_gaussian, fit_radius
from ceph_doctor.codec.windows import patches_around

# Log of a blurred heatmap is clamped here so background zeros stay finite.
_LOG_FLOOR = 1e-10
_MIN_BLUR_SIGMA = 1.0  # heatmap px
# The stencil reaches this far from the argmax: gradient from ±1 px, curvature from ±2 px.
_STENCIL_REACH = 2
# Peak width is measured on the mass above this fraction of the peak value.
_WIDTH_LEVEL = 0.1


class DecodedLandmarks(NamedTuple):
    """Batch decode result; all tensors live on the heatmaps' device."""

    coords: torch.Tensor  # float32 (B, K, 2): x, y in input px (NaN where the map is not finite)
    peak: torch.Tensor  # float32 (B, K): maximum of the raw heatmap
    width: torch.Tensor  # float32 (B, K): Gaussian-equivalent peak width in heatmap px (= sigma if clean)


class HeatmapCodec:
    """Landmarks in input px ⇄ one Gaussian heatmap per landmark.

    ``input_size`` is (width, height) in input px; ``sigma`` is the Gaussian
    standard deviation in heatmap px; ``stride`` is input px per heatmap px.
    """

    def __init__(self, input_size: tuple[int, int], stride: int, sigma: float):
        width, height = (int(v) for v in input_size)
        if width <= 0 or height <= 0:
            raise ValueError(f"input_size must be positive, got {input_size}")
        if int(stride) != stride or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.input_size = (width, height)
        self.stride = int(stride)
        self.sigma = float(sigma)
        self.heatmap_size = (math.ceil(width / self.stride), math.ceil(height / self.stride))
        # The blur matches sigma as DARK prescribes (MMPose: kernel 11 for sigma 2, 17 for 3), but is at
        # least a pixel wide: a narrower kernel is nearly a delta and leaves the noise it is there to
        # remove (sigma 0.7 with noise: 1.4x MMPose's error unblurred, 0.95-0.99x at a one-pixel blur).
        self._blur_sigma = max(self.sigma, _MIN_BLUR_SIGMA)
        self._blur_radius = max(1, math.ceil(3 * self._blur_sigma))
        # A Gaussian's mass above 10 % of its peak reaches 2.15 sigma: 5 sigma leaves
        # room for peaks twice as wide as the target yet keeps far-off blobs out.
        self._width_radius = max(3, math.ceil(5 * self.sigma))

    def __repr__(self) -> str:
        return f"HeatmapCodec(input_size={self.input_size}, stride={self.stride}, sigma={self.sigma})"

    # -- coordinate convention -------------------------------------------------
    def to_heatmap_coords(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) / self.stride

    def to_input_coords(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) * self.stride

    # -- encode ----------------------------------------------------------------
    def encode(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) x, y in input px (NaN = missing) → heatmaps (K, h, w), weights (K,).

        Each heatmap is an untruncated Gaussian with value 1.0 at the landmark, so
        its log is exactly quadratic and decoding is exact. Missing landmarks and
        landmarks outside the input image get weight 0 and an all-zero heatmap.
        """
        points = np.asarray(landmarks, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"landmarks must have shape (K, 2), got {points.shape}")
        width, height = self.input_size
        x, y = points[:, 0], points[:, 1]
        with np.errstate(invalid="ignore"):  # NaN compares False, which is what we want
            inside = (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
        centres = np.where(inside[:, None], self.to_heatmap_coords(points), 0.0)

        # Separable: a (K, w) and a (K, h) profile, one outer product per landmark.
        w, h = self.heatmap_size
        scale = -0.5 / self.sigma**2
        profile_x = np.exp(scale * (np.arange(w) - centres[:, :1]) ** 2).astype(np.float32)
        profile_y = np.exp(scale * (np.arange(h) - centres[:, 1:]) ** 2).astype(np.float32)
        profile_y *= inside[:, None]
        heatmaps = profile_y[:, :, None] * profile_x[:, None, :]
        return heatmaps, inside.astype(np.float32)

    # -- decode ----------------------------------------------------------------
    def decode(self, heatmaps: torch.Tensor) -> DecodedLandmarks:
        """(B, K, h, w) heatmaps → coords in input px, peak value and peak width."""
        if heatmaps.ndim != 4:
            raise ValueError(f"heatmaps must have shape (B, K, h, w), got {tuple(heatmaps.shape)}")
        batch, num_landmarks, h, w = heatmaps.shape
        dtype = torch.float64 if heatmaps.dtype == torch.float64 else torch.float32
        maps = heatmaps.detach().to(dtype).reshape(batch * num_landmarks, h, w)

        peak, flat_index = maps.reshape(-1, h * w).max(dim=1)
        peak_yx = torch.stack((flat_index // w, flat_index % w), dim=1)
        width = _peak_width(maps, peak_yx, peak, self._width_radius)
        offset_xy = self._dark_offsets(maps, peak_yx, width)
        heatmap_xy = peak_yx.flip(1).to(dtype) + offset_xy
        coords = heatmap_xy * self.stride
        coords = torch.where(torch.isfinite(peak)[:, None], coords, torch.nan)

        def shaped(t: torch.Tensor, *tail: int) -> torch.Tensor:
            return t.to(torch.float32).reshape(batch, num_landmarks, *tail)

        return DecodedLandmarks(shaped(coords, 2), shaped(peak), shaped(width))

    def _dark_offsets(self, maps: torch.Tensor, peak_yx: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
        """Sub-pixel (dx, dy) in heatmap px from one Newton step on the log of the blurred map."""
        h, w = maps.shape[1:]
        # Only the stencil around the peak is needed, so blur just the patch that
        # feeds it rather than every map (about 10x less work per landmark).
        radius, reach = self._blur_radius, _STENCIL_REACH
        blurred = _blur_valid(patches_around(maps, peak_yx, radius + reach), self._blur_sigma, radius)
        f = blurred.clamp_min(_LOG_FLOOR).log()  # (n, 5, 5), the peak at [2, 2]

        c = reach
        grad_x = 0.5 * (f[:, c, c + 1] - f[:, c, c - 1])
        grad_y = 0.5 * (f[:, c + 1, c] - f[:, c - 1, c])
        # Curvature from points two pixels apart where the map has them (as MMPose): under noise it
        # is the steadier estimate; one pixel apart next to the border. Exact for a clean Gaussian.
        y, x = peak_yx[:, 0], peak_yx[:, 1]
        far_x = ((x >= 2) & (x <= w - 3)).to(f.dtype)
        far_y = ((y >= 2) & (y <= h - 3)).to(f.dtype)
        hess_xx = far_x * 0.25 * (f[:, c, c + 2] - 2 * f[:, c, c] + f[:, c, c - 2]) + (1 - far_x) * (
            f[:, c, c + 1] - 2 * f[:, c, c] + f[:, c, c - 1])
        hess_yy = far_y * 0.25 * (f[:, c + 2, c] - 2 * f[:, c, c] + f[:, c - 2, c]) + (1 - far_y) * (
            f[:, c + 1, c] - 2 * f[:, c, c] + f[:, c - 1, c])
        hess_xy = 0.25 * (f[:, c + 1, c + 1] - f[:, c + 1, c - 1] - f[:, c - 1, c + 1] + f[:, c - 1, c - 1])
        det = hess_xx * hess_yy - hess_xy**2
        # Closed-form 2x2 inverse: offset = -H^-1 g.
        safe_det = torch.where(det > 0, det, torch.ones_like(det))
        offset_x = -(hess_yy * grad_x - hess_xy * grad_y) / safe_det
        offset_y = -(hess_xx * grad_y - hess_xy * grad_x) / safe_det
        offset = torch.stack((offset_x, offset_y), dim=1)

        # Refine only where the stencil is inside the map and H is a maximum
        # (negative definite); elsewhere the plain argmax is the honest answer.
        usable = (x >= 1) & (x <= w - 2) & (y >= 1) & (y <= h - 2) & (hess_xx < 0) & (det > 0)
        usable &= torch.isfinite(offset).all(dim=1)
        # Noise can put the argmax more than a pixel from the true maximum of a wide peak, so the step
        # is bounded by the peak's own width (at least a pixel), beyond which the log is no quadratic.
        bound = torch.nan_to_num(width, nan=1.0).clamp_min(1.0)[:, None]
        offset = torch.where(usable[:, None], torch.maximum(torch.minimum(offset, bound), -bound), 0.0)
        # Where the blur window leaves the map, a Gaussian fitted to the pixels in it (gaussian_fit.py).
        near_border = ~((x >= radius + reach) & (x <= w - 1 - radius - reach)
                        & (y >= radius + reach) & (y <= h - 1 - radius - reach))
        if near_border.any():
            chosen = near_border.nonzero().squeeze(1)
            window, inside = patches_around(maps[chosen], peak_yx[chosen], fit_radius(self.sigma), with_mask=True)
            fitted, converged = fit_gaussian(window, inside, self.sigma)
            converged &= (fitted.abs() <= bound[chosen]).all(dim=1)
            # A centre beyond the map's edge is an extrapolation the pixels cannot support (and on a
            # flat map, one that float noise moves by pixels): keep the in-map answer there.
            centre_x, centre_y = x[chosen] + fitted[:, 0], y[chosen] + fitted[:, 1]
            converged &= (centre_x >= -0.5) & (centre_x <= w - 0.5) & (centre_y >= -0.5) & (centre_y <= h - 0.5)
            offset[chosen] = torch.where(converged[:, None], fitted.to(offset.dtype), offset[chosen])
        return offset


def _blur_valid(patches: torch.Tensor, sigma: float, radius: int) -> torch.Tensor:
    """Separable Gaussian blur of (n, P, P) patches, keeping only fully covered outputs.

    With patches cut from zero-padded maps this equals MMPose's gaussian_blur
    (zero padding) at those positions. MMPose rescales to the original maximum;
    that only adds a constant to the log, which the derivatives ignore.
    """
    taps = torch.arange(-radius, radius + 1, device=patches.device, dtype=patches.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    size = patches.shape[-1] - 2 * radius
    # Banded matrix: column j holds the kernel at rows j .. j + 2r.
    band = torch.zeros(patches.shape[-1], size, device=patches.device, dtype=patches.dtype)
    for j in range(size):  # size is 3: the stencil, not the data
        band[j : j + 2 * radius + 1, j] = kernel
    return torch.einsum("pi,npq,qj->nij", band, patches, band)


def _peak_width(
    maps: torch.Tensor, peak_yx: torch.Tensor, peak: torch.Tensor, radius: int
) -> torch.Tensor:
    """Gaussian-equivalent width (heatmap px) of the peak at ``peak_yx``.

    Second moment of the mass above 10 % of the peak value within ``radius`` of
    the argmax, mean of the x and y variances, divided by what that moment is
    for a Gaussian of sigma 1, so a clean target of sigma s reads s. Measuring
    only above a fraction of the peak keeps a network's low background from
    reading as width (a 2 % noise floor moves it by under 1 %, where the plain
    second moment grows by 40 %). NaN where there is no positive peak.
    """
    window = patches_around(maps, peak_yx, radius)
    mass = (window - _WIDTH_LEVEL * peak[:, None, None]).clamp_min(0)
    along_x, along_y = mass.sum(dim=1), mass.sum(dim=2)  # marginals (n, P)
    total = along_x.sum(dim=1)
    positions = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)

    def variance(marginal: torch.Tensor) -> torch.Tensor:
        mean = (marginal * positions).sum(dim=1) / total
        return (marginal * (positions - mean[:, None]) ** 2).sum(dim=1) / total

    width = torch.sqrt(0.5 * (variance(along_x) + variance(along_y)) / _WIDTH_MOMENT_OF_UNIT_GAUSSIAN)
    return torch.where((peak > 0) & (total > 0), width, torch.nan)


def _moment_above_level(level: float) -> float:
    """Per-axis second moment of (g - level)+ for a unit-peak 2-D Gaussian of sigma 1.

    With s = r^2 / 2 the area element is uniform in s, so the moment is
    E[s] = ∫ s (e^-s - level) ds / ∫ (e^-s - level) ds over 0 <= s <= ln(1/level).
    """
    top = math.log(1 / level)
    numerator = 1 - level * (1 + top) - level * top**2 / 2
    denominator = 1 - level - level * top
    return numerator / denominator


_WIDTH_MOMENT_OF_UNIT_GAUSSIAN = _moment_above_level(_WIDTH_LEVEL)
