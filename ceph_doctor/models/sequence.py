"""A sequence keypoint decoder: the image backbone's features feed a small transformer decoder that
emits the landmarks one after another, in a fixed order, each step seeing the points before it.

Coordinates are x / width and y / height of the input image, in [0, 1].

- Teacher forcing (training): step t is fed the true point t-1, and all steps run at once under a
  causal mask.
- Autoregressive (inference): step t is fed the model's own point t-1. Each layer keeps the keys
  and values of the steps before (a cache), so step t costs the same whatever t is; without it,
  every step re-runs all the steps before it and decoding K landmarks costs K² steps.
- Scheduled sampling (Bengio et al. 2015): a rollout like inference, where each step is fed the
  true point with probability p and the model's own (without gradient) otherwise.

With `offsets`, each step predicts its point as an offset from the point it was fed: chain models
of this kind use the anatomy's regular spacing, and are the ones most exposed to their own
mistakes at inference. With `support`, a fixed support image and its landmarks (set by
`set_support`) are appended to what the decoder attends to, as in category-agnostic models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

MEMORY_STRIDE = 16  # input px per memory token: a 128 x 160 input gives 8 x 10 tokens
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


class SequenceHead(nn.Module):
    """Backbone features → K points, one step per landmark."""

    def __init__(self, in_channels: int, num_landmarks: int, *, backbone_stride: int, dim: int = 64,
                 layers: int = 2, heads: int = 4, offsets: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"sequence dim {dim} must be divisible by heads {heads}")
        self.num_landmarks = num_landmarks
        self.offsets = offsets
        self.pool = max(1, MEMORY_STRIDE // backbone_stride)
        self.project = nn.Conv2d(in_channels, dim, 1)
        self.fourier = Fourier()
        self.memory_position = nn.Linear(4 * FOURIER_BANDS, dim)
        self.point_embed = nn.Sequential(nn.Linear(4 * FOURIER_BANDS, dim), nn.GELU(), nn.Linear(dim, dim))
        self.start = nn.Parameter(torch.zeros(dim))
        self.landmark_embed = nn.Embedding(num_landmarks, dim)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 2)
        nn.init.normal_(self.landmark_embed.weight, std=0.02)
        nn.init.zeros_(self.out.weight)
        nn.init.constant_(self.out.bias, 0.0 if offsets else 0.5)  # start at the centre, or where fed

    # -- memory ------------------------------------------------------------------------------------
    def feature_map(self, features: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.project(features), self.pool, ceil_mode=True)

    def tokens(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, dim, h, w) → (B, h·w, dim), each token told where it sits."""
        batch, dim, height, width = grid.shape
        ys, xs = torch.meshgrid((torch.arange(height, device=grid.device) + 0.5) / height,
                                (torch.arange(width, device=grid.device) + 0.5) / width, indexing="ij")
        where = self.memory_position(self.fourier(torch.stack([xs, ys], dim=-1).flatten(0, 1)))
        return grid.flatten(2).transpose(1, 2) + where

    def support_tokens(self, support_grid: torch.Tensor, support_points: torch.Tensor) -> torch.Tensor:
        """One token per support landmark: its position, its identity, and the support image there."""
        sampled = F.grid_sample(support_grid, support_points[None, None] * 2 - 1, align_corners=False)
        return (sampled[:, :, 0].transpose(1, 2) + self.point_embed(self.fourier(support_points))
                + self.landmark_embed.weight)

    # -- decoding ----------------------------------------------------------------------------------
    def step_inputs(self, fed: torch.Tensor | None, first: int, batch: int) -> torch.Tensor:
        """Inputs of steps first … first+T-1, where `fed` (B, T, 2) holds the points fed to them
        (None for step 0, which is fed a learnt start token)."""
        positions = self.landmark_embed.weight[first:first + (1 if fed is None else fed.shape[1])]
        if fed is None:
            return (self.start + positions).expand(batch, -1, -1)
        embedded = self.point_embed(self.fourier(fed))
        if first == 0:  # step 0's input is the start token whatever `fed` holds there
            embedded = torch.cat([self.start.expand(batch, 1, -1), embedded[:, 1:]], dim=1)
        return embedded + positions

    def run_layers(self, x: torch.Tensor, memory: list, caches: list | None) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x, memory[index], caches[index] if caches is not None else None)
        return self.out(self.norm(x))

    def points(self, raw: torch.Tensor, fed: torch.Tensor) -> torch.Tensor:
        return fed + raw if self.offsets else raw

    def teacher_forced(self, memory: list, truth: torch.Tensor) -> torch.Tensor:
        """All K steps at once, step t fed truth[t-1]."""
        batch = truth.shape[0]
        fed = torch.cat([truth.new_full((batch, 1, 2), 0.5), truth[:, :-1]], dim=1)
        return self.points(self.run_layers(self.step_inputs(fed, 0, batch), memory, None), fed)

    def generate(self, memory: list, batch: int, choose: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
                 cache: bool = True) -> torch.Tensor:
        """Step by step, each fed the point before it: the model's own, or what `choose(t, own)` returns.

        With `cache=False` every step re-runs the whole prefix (the reference the cache must match).
        """
        caches = [LayerCache(self.num_landmarks) for _ in self.layers] if cache else None
        fed = memory[0][0].new_full((batch, 1, 2), 0.5)
        inputs: list[torch.Tensor] = []
        outputs: list[torch.Tensor] = []
        for step in range(self.num_landmarks):
            inputs.append(self.step_inputs(None if step == 0 else fed, step, batch))
            if cache:
                raw = self.run_layers(inputs[-1], memory, caches)
            else:
                raw = self.run_layers(torch.cat(inputs, dim=1), memory, None)[:, -1:]
            point = self.points(raw, fed)
            outputs.append(point)
            fed = point if choose is None else choose(step, point)
        return torch.cat(outputs, dim=1)


class SequenceModel(nn.Module):
    """An image backbone and a `SequenceHead`: `model(images)` decodes autoregressively,
    `model(images, teacher=points)` teacher-forced, `model(images, teacher=points, teacher_forcing=p)`
    with scheduled sampling. Outputs are (B, K, 2) in [0, 1] of the input image."""

    def __init__(self, backbone: nn.Module, backbone_channels: int, backbone_stride: int, num_landmarks: int,
                 size_multiple: int, *, dim: int = 64, layers: int = 2, heads: int = 4, offsets: bool = False,
                 support: bool = False):
        super().__init__()
        self.backbone = backbone
        self.head = SequenceHead(backbone_channels, num_landmarks, backbone_stride=backbone_stride, dim=dim,
                                 layers=layers, heads=heads, offsets=offsets)
        self.num_landmarks = num_landmarks
        self.stride = backbone_stride
        self.size_multiple = size_multiple
        self.uses_support = support
        self.register_buffer("support_image", torch.zeros(0))
        self.register_buffer("support_points", torch.zeros(0))

    def check_input_size(self, height: int, width: int) -> None:
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"input size {height}x{width} (HxW) is not divisible by {self.size_multiple}")

    def set_support(self, image: torch.Tensor, points: torch.Tensor) -> None:
        """The support example: (1, C, H, W) normalised image, (K, 2) points in [0, 1]."""
        self.support_image = image.to(self.parameter_device)
        self.support_points = points.to(self.parameter_device)

    @property
    def parameter_device(self) -> torch.device:
        return self.head.start.device

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The support buffers are empty until set: take the checkpoint's shapes before copying.
        for name in ("support_image", "support_points"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.parameter_device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def memory(self, images: torch.Tensor) -> list:
        head = self.head
        tokens = head.tokens(head.feature_map(self.backbone(images)))
        if self.uses_support:
            if self.support_image.numel() == 0:
                raise RuntimeError("model.sequence.support is on but no support example was set (set_support)")
            support = head.support_tokens(head.feature_map(self.backbone(self.support_image)), self.support_points)
            tokens = torch.cat([tokens, support.expand(len(images), -1, -1)], dim=1)
        return [layer.memory_keys_values(tokens) for layer in head.layers]

    def forward(self, images: torch.Tensor, teacher: torch.Tensor | None = None, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None, cache: bool = True,
                with_teacher_forced: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """With `with_teacher_forced`, also the teacher-forced points of the same images (without gradient
        under scheduled sampling: a second pass of the decoder alone, so its loss can be logged beside)."""
        memory = self.memory(images)
        if teacher is None:
            return self.head.generate(memory, len(images), cache=cache)
        if teacher_forcing >= 1.0:
            points = self.head.teacher_forced(memory, teacher)
            return (points, points) if with_teacher_forced else points

        def choose(step: int, own: torch.Tensor) -> torch.Tensor:
            # Per sample and step: the true point with probability p, else the model's own, as a given input.
            true = teacher[:, step:step + 1]
            coin = torch.rand(len(images), 1, 1, generator=generator).to(true.device) < teacher_forcing
            return torch.where(coin, true, own.detach())

        points = self.head.generate(memory, len(images), choose)
        if not with_teacher_forced:
            return points
        with torch.no_grad():
            return points, self.head.teacher_forced(memory, teacher)
