"""A Gaussian fitted to the pixels around a peak, for peaks too near the border for DARK's blur.

Any blur of a peak cut off by the map's edge is biased: zero padding (MMPose's) pulls the peak
inward, renormalising by the kernel mass left inside pushes it outward. A least-squares fit of
A·exp(-|p - c|² / 2s²) + b to the pixels that exist has no such bias: it is exact on a clean
Gaussian wherever it lies, and under additive noise it is the maximum-likelihood centre.
`python benchmarks/dark_decoder.py` measures it against MMPose's decoder.
"""

from __future__ import annotations

import math

import torch

FIT_RADIUS_SIGMAS = 3.0  # the window: 99 % of a target's mass, and little more of the background
FIT_STEPS = 5  # Gauss-Newton steps from the argmax; a Gaussian converges in 3-4
DAMPING = 1e-3  # relative to the normal matrix's diagonal: negligible for a peak, enough for a flat window


def fit_gaussian(patches: torch.Tensor, inside: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, P, P) windows centred on each argmax and their inside-the-map mask → (dx, dy) of the fitted
    centre from the window's centre (heatmap px), and where the fit converged to a peak.

    Parameters (A, cx, cy, s, b) start from the argmax, the target's sigma, the peak value and no
    background; each step solves the 5×5 normal equations of the residuals on the inside pixels.
    """
    n, size = patches.shape[0], patches.shape[-1]
    radius = size // 2
    taps = torch.arange(-radius, radius + 1, device=patches.device, dtype=patches.dtype)
    dy, dx = (grid.reshape(-1) for grid in torch.meshgrid(taps, taps, indexing="ij"))
    values, mask = patches.reshape(n, -1), inside.reshape(n, -1)
    zeros = torch.zeros(n, device=patches.device, dtype=patches.dtype)
    amplitude = values.amax(dim=1)
    params = torch.stack([amplitude, zeros, zeros, torch.full_like(zeros, sigma), zeros], dim=1)
    identity = torch.eye(5, device=patches.device, dtype=patches.dtype)
    failed = torch.zeros(n, dtype=torch.bool, device=patches.device)
    for _ in range(FIT_STEPS):
        a, cx, cy, s, b = params.unbind(dim=1)
        ex, ey, s2 = dx - cx[:, None], dy - cy[:, None], (s * s)[:, None]
        g = torch.exp(-(ex * ex + ey * ey) / (2 * s2))
        residual = (values - a[:, None] * g - b[:, None]) * mask
        ag = a[:, None] * g
        jacobian = torch.stack([g, ag * ex / s2, ag * ey / s2, ag * (ex * ex + ey * ey) / (s2 * s[:, None]),
                                torch.ones_like(g)], dim=-1) * mask[..., None]
        normal = torch.einsum("npi,npj->nij", jacobian, jacobian)
        # Levenberg-Marquardt damping keeps a flat or one-pixel window solvable; a map the model left
        # empty or non-finite still fails, is reported as not converged, and keeps DARK's answer.
        normal = normal + DAMPING * torch.diag_embed(normal.diagonal(dim1=-2, dim2=-1)) + 1e-12 * identity
        step, info = torch.linalg.solve_ex(normal, torch.einsum("npi,np->ni", jacobian, residual))
        solved = (info == 0) & torch.isfinite(step).all(dim=1)
        failed |= ~solved
        params = params + torch.where(solved[:, None], step, torch.zeros_like(step))
    a, cx, cy, s, _ = params.unbind(dim=1)
    offset = torch.stack([cx, cy], dim=1)
    converged = (~failed & torch.isfinite(offset).all(dim=1) & (a > 0) & (s > 0)
                 & (offset.abs() <= radius).all(dim=1))
    return offset, converged


def fit_radius(sigma: float) -> int:
    return max(2, math.ceil(FIT_RADIUS_SIGMAS * sigma))
