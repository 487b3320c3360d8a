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

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ceph_doctor.models.input_size import require_divisible
from ceph_doctor.models.sequence_layers import FOURIER_BANDS, DecoderLayer, Fourier, LayerCache

MEMORY_STRIDE = 16  # input px per memory token: a 128 x 160 input gives 8 x 10 tokens


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
        require_divisible(height, width, self.size_multiple)

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
