"""Windows cut around each map's peak: decoding reads only these, never the whole map."""

from __future__ import annotations

import torch


def patches_around(maps: torch.Tensor, centre_yx: torch.Tensor, radius: int, with_mask: bool = False):
    """(n, h, w) maps → (n, 2r+1, 2r+1) windows centred on centre_yx, zero outside the map
    (and, `with_mask`, the windows' inside-the-map mask)."""
    n, h, w = maps.shape
    taps = torch.arange(-radius, radius + 1, device=maps.device)
    rows = centre_yx[:, :1] + taps  # (n, P)
    cols = centre_yx[:, 1:] + taps
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    index = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]
    values = maps.reshape(n, h * w).gather(1, index.flatten(1)).reshape(index.shape) * inside
    return (values, inside.to(maps.dtype)) if with_mask else values
