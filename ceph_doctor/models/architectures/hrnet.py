"""HRNet (Sun et al., CVPR 2019), the top-down pose variant, in plain PyTorch.

Structure as published for W18/W32/W48 (``width`` = channels of the
highest-resolution branch; branch ``b`` has ``width * 2**b`` channels at
stride ``4 * 2**b``):

- stem: two stride-2 3x3 convs to 64 channels (stride 4);
- stage 1: 4 Bottlenecks to 256 channels;
- stages 2, 3, 4: 2, 3, 4 branches; 1, 4, 3 modules; 4 BasicBlocks per branch
  per module; each module ends with a fuse layer that exchanges information
  between all resolutions; a transition adds one lower-resolution branch
  before each stage;
- the last module of stage 4 fuses into the highest-resolution branch only;
- a 1x1 conv on that branch gives the heatmaps (output stride 4).

With 3 input channels and 17 joints this gives the published parameter
counts (W32 28.5 M, W48 63.6 M); ours defaults to 1 channel and 19 landmarks,
which changes the count by about a thousand.
"""

from __future__ import annotations

import torch
from torch import nn

from ceph_doctor.models.input_size import require_divisible

VALID_HRNET_WIDTHS = (18, 32, 48)
STAGE_MODULES = (1, 4, 3)  # modules in stages 2, 3, 4
BLOCKS_PER_BRANCH = 4


def conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity shortcut (channels unchanged)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels, relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + x)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a projected shortcut when widths differ."""

    expansion = 4

    def __init__(self, in_ch: int, mid_ch: int):
        super().__init__()
        out_ch = mid_ch * self.expansion
        self.body = nn.Sequential(
            conv_bn(in_ch, mid_ch, kernel=1),
            conv_bn(mid_ch, mid_ch),
            conv_bn(mid_ch, out_ch, kernel=1, relu=False),
        )
        self.shortcut = nn.Identity() if in_ch == out_ch else conv_bn(in_ch, out_ch, kernel=1, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def fuse_path(from_ch: int, to_ch: int, steps: int) -> nn.Module:
    """Resample branch features by ``steps`` octaves (>0: up, <0: down)."""
    if steps > 0:  # lower resolution -> higher: 1x1 conv to the target width, then nearest upsample
        return nn.Sequential(conv_bn(from_ch, to_ch, kernel=1, relu=False), nn.Upsample(scale_factor=2**steps))
    # higher resolution -> lower: one stride-2 3x3 conv per octave; only the
    # last changes the width, and it has no ReLU because a sum follows.
    convs = [conv_bn(from_ch, from_ch, stride=2) for _ in range(-steps - 1)]
    convs.append(conv_bn(from_ch, to_ch, stride=2, relu=False))
    return nn.Sequential(*convs)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then a fuse into ``num_outputs`` branches."""

    def __init__(self, branch_channels: list[int], num_outputs: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(ch) for _ in range(BLOCKS_PER_BRANCH))) for ch in branch_channels
        )
        # fuse[i][j] brings branch j to branch i's resolution and width.
        self.fuse = nn.ModuleList(
            nn.ModuleList(
                nn.Identity() if i == j else fuse_path(branch_channels[j], branch_channels[i], j - i)
                for j in range(len(branch_channels))
            )
            for i in range(num_outputs)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        return [self.relu(sum(path(x) for path, x in zip(paths, xs))) for paths in self.fuse]


class Transition(nn.Module):
    """Adapt the previous stage's branches and add one branch at half the lowest resolution."""

    def __init__(self, prev_channels: list[int], next_channels: list[int]):
        super().__init__()
        self.adapt = nn.ModuleList(
            nn.Identity() if p == n else conv_bn(p, n) for p, n in zip(prev_channels, next_channels)
        )
        self.new_branch = conv_bn(prev_channels[-1], next_channels[-1], stride=2)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [adapt(x) for adapt, x in zip(self.adapt, xs)] + [self.new_branch(xs[-1])]


class HRNetBackbone(nn.Module):
    """Stem to the stride-4 highest-resolution features (``width`` channels)."""

    def __init__(self, width: int, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(in_channels, 64, stride=2), conv_bn(64, 64, stride=2))
        self.stage1 = nn.Sequential(Bottleneck(64, 64), *(Bottleneck(256, 64) for _ in range(3)))
        transitions, stages = [], []
        prev_channels = [256]
        for stage_index, num_modules in enumerate(STAGE_MODULES):
            channels = [width * 2**b for b in range(stage_index + 2)]
            transitions.append(Transition(prev_channels, channels))
            is_last_stage = stage_index == len(STAGE_MODULES) - 1
            modules = [
                HighResolutionModule(channels, 1 if is_last_stage and m == num_modules - 1 else len(channels))
                for m in range(num_modules)
            ]
            stages.append(nn.Sequential(*modules))
            prev_channels = channels
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [self.stage1(self.stem(x))]
        for transition, stage in zip(self.transitions, self.stages):
            xs = stage(transition(xs))
        return xs[0]


class HRNet(nn.Module):
    """HRNet heatmap model: ``backbone`` + ``head`` (a 1x1 conv), output stride 4.

    Input ``(B, in_channels, H, W)`` with H and W divisible by 32 (the lowest
    branch is at stride 32 and the fuse layers need exact 2x size ratios).
    """

    stride = 4
    size_multiple = 32

    def __init__(self, num_landmarks: int, *, width: int = 32, in_channels: int = 1):
        super().__init__()
        if width not in VALID_HRNET_WIDTHS:
            raise ValueError(f"HRNet width must be one of {VALID_HRNET_WIDTHS}, got {width}")
        if num_landmarks < 1 or in_channels < 1:
            raise ValueError(f"HRNet needs positive num_landmarks and in_channels, got {num_landmarks}, {in_channels}")
        self.num_landmarks = num_landmarks
        self.width = width
        self.backbone = HRNetBackbone(width, in_channels)
        self.head = nn.Conv2d(width, num_landmarks, 1)
        # Near-zero initial heatmaps (as in the reference init): stable start for MSE.
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)

    def check_input_size(self, height: int, width: int) -> None:
        require_divisible(height, width, self.size_multiple, "HRNet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_size(x.shape[-2], x.shape[-1])
        return self.head(self.backbone(x))


STRIDES = (4,)
DEFAULT_STRIDE = 4


def build(num_landmarks: int, *, in_channels: int = 1, width: int = 32, channels: int = 16,
          stride: int | None = None) -> HRNet:
    """The architecture's entry point (`models.architectures`): `width` is 18, 32 or 48."""
    if width not in VALID_HRNET_WIDTHS:
        raise ValueError(f"model width for hrnet must be one of {VALID_HRNET_WIDTHS}, got {width}")
    return HRNet(num_landmarks, width=width, in_channels=in_channels)
