"""A small U-Net heatmap model: the CPU default.

The layout is shaped by CPU cost, not by the 2015 paper. On a CPU the time of
a convolution grows with channels² × pixels, so the classic "double the
channels at every level" plan spends the same time at every level and the
full- and half-resolution levels decide the step time. Here:

- level widths are ``c × (1, 1, 2, 4, 8)`` for strides 1, 2, 4, 8, 16: the
  half-resolution level stays at ``c`` channels, deeper (cheap) levels double;
- full resolution gets a single stem convolution, and every level goes down
  with a stride-2 convolution (computed at the output resolution, cheaper than
  convolving at full size and max-pooling);
- the decoder merges by addition (a 1x1 projection at the low resolution, a
  nearest upsample, a sum) rather than concatenation, so each decoder level
  pays for one narrow 3x3 convolution;
- the weights are kept channels-last (NHWC), which oneDNN runs faster.

The decoder stops at the requested output stride (1, 2 or 4), so stride 2
never computes the full-resolution decoder level at all.
"""

from __future__ import annotations

import torch
from torch import nn

from ceph_doctor.models.input_size import require_divisible
from torch.nn import functional as F

STRIDES = VALID_UNET_STRIDES = (1, 2, 4)
DEFAULT_STRIDE = 2
VALID_NORMS = ("batch", "group")
DEPTH = 4  # number of stride-2 steps: the bottleneck sits at stride 16
_WIDTH_FACTORS = (1, 1, 2, 4, 8)  # per level, stride 2**level


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    # GroupNorm works at any batch size; 8 groups is the usual choice when the
    # channel count allows it.
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


def conv_norm_relu(in_ch: int, out_ch: int, norm: str, stride: int = 1) -> nn.Sequential:
    # No conv bias: the normalisation that follows would cancel it.
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        make_norm(norm, out_ch),
        nn.ReLU(inplace=True),
    )


class DownLevel(nn.Sequential):
    """Halve the resolution (strided conv) and refine at the new width."""

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__(conv_norm_relu(in_ch, out_ch, norm, stride=2), conv_norm_relu(out_ch, out_ch, norm))


class UpLevel(nn.Module):
    """Upsample the deeper features, add the skip connection, refine."""

    def __init__(self, deep_ch: int, skip_ch: int, norm: str):
        super().__init__()
        self.project = nn.Conv2d(deep_ch, skip_ch, 1, bias=False)
        self.refine = conv_norm_relu(skip_ch, skip_ch, norm)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # Project before upsampling: the 1x1 conv then runs on 4x fewer pixels.
        up = F.interpolate(self.project(deep), scale_factor=2.0, mode="nearest")
        return self.refine(up + skip)


class UNetBackbone(nn.Module):
    """Encoder to stride 16 and decoder back up to the output stride."""

    def __init__(self, in_channels: int, channels: int, stride: int, norm: str):
        super().__init__()
        widths = [channels * f for f in _WIDTH_FACTORS]
        self.stem = conv_norm_relu(in_channels, widths[0], norm)
        self.down = nn.ModuleList(DownLevel(widths[i], widths[i + 1], norm) for i in range(DEPTH))
        out_level = stride.bit_length() - 1  # log2(stride)
        self.up = nn.ModuleList(
            UpLevel(widths[level + 1], widths[level], norm) for level in range(DEPTH - 1, out_level - 1, -1)
        )
        self.out_channels = widths[out_level]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = [x]
        for level in self.down:
            x = level(x)
            skips.append(x)
        skips.pop()  # the bottleneck is x itself, not a skip
        for level in self.up:
            x = level(x, skips.pop())
        return x


class HeatmapHead(nn.Sequential):
    """3x3 conv + norm + ReLU, then a 1x1 conv to one heatmap per landmark.

    The hidden width is at least twice the landmark count: a 1x1 conv mixes its
    inputs linearly, and from fewer feature maps than landmarks it cannot draw
    an independent peak for each; the hardest landmarks then get none at all.
    """

    def __init__(self, in_ch: int, num_landmarks: int, norm: str):
        hidden = max(in_ch, 2 * num_landmarks)
        super().__init__(conv_norm_relu(in_ch, hidden, norm), nn.Conv2d(hidden, num_landmarks, 1))
        # Near-zero initial heatmaps: with an MSE loss against mostly-zero
        # targets this starts training at a small, stable loss.
        nn.init.normal_(self[-1].weight, std=1e-3)
        nn.init.zeros_(self[-1].bias)


class UNet(nn.Module):
    """U-Net heatmap model: ``backbone`` (features at ``stride``) + ``head``.

    Input ``(B, in_channels, H, W)`` with H and W divisible by 16; output
    ``(B, num_landmarks, H / stride, W / stride)``.
    """

    size_multiple = 2**DEPTH

    def __init__(
        self,
        num_landmarks: int,
        *,
        in_channels: int = 1,
        channels: int = 16,
        stride: int = 2,
        norm: str = "batch",
    ):
        super().__init__()
        if stride not in VALID_UNET_STRIDES:
            raise ValueError(f"U-Net output stride must be one of {VALID_UNET_STRIDES}, got {stride}")
        if norm not in VALID_NORMS:
            raise ValueError(f"U-Net norm must be one of {VALID_NORMS}, got {norm!r}")
        if channels < 1 or num_landmarks < 1 or in_channels < 1:
            raise ValueError(
                f"U-Net needs positive channels, num_landmarks and in_channels, "
                f"got {channels}, {num_landmarks}, {in_channels}"
            )
        self.num_landmarks = num_landmarks
        self.stride = stride
        self.backbone = UNetBackbone(in_channels, channels, stride, norm)
        self.head = HeatmapHead(self.backbone.out_channels, num_landmarks, norm)
        # Channels-last weights make oneDNN run every conv in NHWC: measured
        # ~25% faster training steps on CPU for these narrow layers. Moving
        # the model (.to(device)) and load_state_dict keep this layout.
        self.to(memory_format=torch.channels_last)

    def check_input_size(self, height: int, width: int) -> None:
        require_divisible(height, width, self.size_multiple, "U-Net")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_size(x.shape[-2], x.shape[-1])
        # Hand back ordinary NCHW heatmaps so callers may .view() them.
        return self.head(self.backbone(x)).contiguous()


def build(num_landmarks: int, *, in_channels: int = 1, width: int = 32, channels: int = 16,
          stride: int | None = None) -> UNet:
    """The architecture's entry point (`models.architectures`): `channels` is the U-Net's base width."""
    if channels < 1:
        raise ValueError(f"model channels for unet must be at least 1, got {channels}")
    return UNet(num_landmarks, in_channels=in_channels, channels=channels,
                stride=DEFAULT_STRIDE if stride is None else stride)
