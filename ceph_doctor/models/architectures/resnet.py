"""ResNet-18 with deconvolutions to stride 4: the SimpleBaseline pose model (Xiao et al., ECCV 2018).

The plain backbone a fine-tuner falls back to when a heavy framework will not install (shared/USERS.md,
story 5). ResNet-18 (He et al. 2016: basic blocks, [2, 2, 2, 2], 64…512 channels) to stride 32, then
three 4x4 transposed convolutions of 256 channels up to stride 4; the head is a 1x1 convolution, one
heatmap per landmark. The deconvolutions belong to the `backbone`, so a pretrained `backbone.*` carries
them and the backbone's output is at the model's stride, as every architecture's is.
"""

from __future__ import annotations

import torch
from torch import nn

STRIDES = (4,)
DEFAULT_STRIDE = 4
BLOCKS = (2, 2, 2, 2)  # ResNet-18
WIDTHS = (64, 128, 256, 512)
DECONV_CHANNELS = 256


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNetBackbone(nn.Module):
    """ResNet-18 to stride 32, then deconvolutions to stride 4 (`out_channels` = 256)."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        layers, channels = [], 64
        for index, (blocks, width) in enumerate(zip(BLOCKS, WIDTHS)):
            stride = 1 if index == 0 else 2
            layers.append(nn.Sequential(BasicBlock(channels, width, stride),
                                        *(BasicBlock(width, width) for _ in range(blocks - 1))))
            channels = width
        self.layers = nn.Sequential(*layers)
        deconvs = []
        for _ in range(3):
            deconvs += [nn.ConvTranspose2d(channels, DECONV_CHANNELS, 4, stride=2, padding=1, bias=False),
                        nn.BatchNorm2d(DECONV_CHANNELS), nn.ReLU(inplace=True)]
            channels = DECONV_CHANNELS
        self.deconvs = nn.Sequential(*deconvs)
        self.out_channels = DECONV_CHANNELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.layers(self.stem(x)))


class ResNetPose(nn.Module):
    """SimpleBaseline heatmap model: ``backbone`` (ResNet-18 + deconvolutions) + ``head`` (a 1x1 conv)."""

    stride = 4
    size_multiple = 32

    def __init__(self, num_landmarks: int, *, in_channels: int = 1):
        super().__init__()
        if num_landmarks < 1 or in_channels < 1:
            raise ValueError(f"ResNet needs positive num_landmarks and in_channels, got {num_landmarks}, {in_channels}")
        self.num_landmarks = num_landmarks
        self.backbone = ResNetBackbone(in_channels)
        self.head = nn.Conv2d(DECONV_CHANNELS, num_landmarks, 1)
        nn.init.normal_(self.head.weight, std=1e-3)  # near-zero initial heatmaps, as SimpleBaseline's init
        nn.init.zeros_(self.head.bias)

    def check_input_size(self, height: int, width: int) -> None:
        m = self.size_multiple
        if height % m or width % m:
            raise ValueError(
                f"ResNet input size {height}x{width} (HxW) is not divisible by {m}; resize or pad the images, "
                f"e.g. to {-(-height // m) * m}x{-(-width // m) * m}"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def build(num_landmarks: int, *, in_channels: int = 1, width: int = 32, channels: int = 16,
          stride: int | None = None) -> ResNetPose:
    """The architecture's entry point (`models.architectures`): ResNet-18; width and channels do not apply."""
    return ResNetPose(num_landmarks, in_channels=in_channels)
