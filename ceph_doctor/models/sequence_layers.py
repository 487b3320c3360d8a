"""The sequence decoder's parts: Fourier features of coordinates, a key/value cache, and one decoder layer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FOURIER_BANDS = 6  # shortest period 1/16 of the image: a fed point one pixel off must not read as another point


class Fourier(nn.Module):
    """(…, 2) coordinates in [0, 1] → (…, 4 · bands) sines and cosines at octave frequencies."""

    def __init__(self, bands: int = FOURIER_BANDS):
        super().__init__()
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(bands), persistent=False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        angles = points[..., None] * self.frequencies  # (…, 2, bands)
        return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


@dataclass
class LayerCache:
    """The keys and values of the steps decoded so far: (B, heads, K, head_dim) buffers, filled to `length`.

    At inference they are allocated once for the whole sequence and written in place: concatenating a
    grown copy at every step would make decoding quadratic in memory traffic. Under autograd (a scheduled
    sampling rollout) in-place writes would invalidate what backward needs, so the copies are kept."""

    capacity: int
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    length: int = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if keys.requires_grad:
            self.keys = keys if self.keys is None else torch.cat([self.keys, keys], dim=2)
            self.values = values if self.values is None else torch.cat([self.values, values], dim=2)
            self.length = self.keys.shape[2]
            return self.keys, self.values
        if self.keys is None:
            shape = (*keys.shape[:2], self.capacity, keys.shape[-1])
            self.keys, self.values = keys.new_empty(shape), values.new_empty(shape)
        end = self.length + keys.shape[2]
        self.keys[:, :, self.length:end], self.values[:, :, self.length:end] = keys, values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class DecoderLayer(nn.Module):
    """Pre-norm transformer decoder layer: causal self-attention, cross-attention to the image, MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm_self, self.norm_cross, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_qkv = nn.Linear(dim, 3 * dim)
        self.self_out = nn.Linear(dim, dim)
        self.cross_q = nn.Linear(dim, dim)
        self.cross_kv = nn.Linear(dim, 2 * dim)
        self.cross_out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

    def memory_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Computed once per image: every step attends to the same memory."""
        keys, values = self.cross_kv(memory).chunk(2, dim=-1)
        return self.split_heads(keys), self.split_heads(values)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor], cache: LayerCache | None) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (self.split_heads(part) for part in self.self_qkv(self.norm_self(x)).chunk(3, dim=-1))
        if cache is not None:
            k, v = cache.append(k, v)
        # Several new steps at once (teacher forcing) see only those before them; one new step sees the cache.
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1)
        x = x + self.self_out(attended.transpose(1, 2).reshape(batch, length, dim))
        q = self.split_heads(self.cross_q(self.norm_cross(x)))
        attended = F.scaled_dot_product_attention(q, *memory)
        x = x + self.cross_out(attended.transpose(1, 2).reshape(batch, length, dim))
        return x + self.mlp(self.norm_mlp(x))
