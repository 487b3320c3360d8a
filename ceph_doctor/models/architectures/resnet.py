"""ResNet-18/34/50 with deconvolutions to stride 4: the SimpleBaseline pose model (Xiao et al., ECCV 2018).

The plain backbone a fine-tuner falls back to when a heavy framework will not install (shared/USERS.md,
story 5). ResNet (He et al. 2016; `model.resnet.depth`: 18 and 34 of basic blocks, 50 of bottlenecks with
the stride on the 3x3 convolution, as torchvision's "v1.5") to stride 32, then three 4x4 transposed
convolutions of 256 channels up to stride 4; the head is a 1x1 convolution, one heatmap per landmark.
The deconvolutions belong to the `backbone`, so a pretrained `backbone.*` carries them and the
backbone's output is at the model's stride, as every architecture's is.

`model.pretrained` also takes an ImageNet checkpoint in torchvision's layout (`conv1`, `bn1`,
`layer1`…`layer4`, `fc`): `pretrained_backbone` renames its weights to this backbone's, sums the
first convolution's RGB kernels for the one grey channel, and leaves the deconvolutions fresh.
"""

from __future__ import annotations

import torch
from torch import nn

from ceph_doctor.models.input_size import require_divisible

STRIDES = (4,)
DEFAULT_STRIDE = 4
DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}
WIDTHS = (64, 128, 256, 512)
DECONV_CHANNELS = 256
FRESH_IN_PRETRAINED = ("deconvs.",)  # what an ImageNet checkpoint does not hold


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The residual path's projection where a block changes resolution or width (torchvision's `downsample`)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNetBackbone(nn.Module):
    """ResNet to stride 32, then deconvolutions to stride 4 (`out_channels` = 256)."""

    def __init__(self, in_channels: int = 1, depth: int = 18):
        super().__init__()
        kind, counts = DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        layers, channels = [], 64
        for index, (blocks, width) in enumerate(zip(counts, WIDTHS)):
            stride = 1 if index == 0 else 2
            first = block(channels, width, stride)
            channels = width * block.expansion
            layers.append(nn.Sequential(first, *(block(channels, width) for _ in range(blocks - 1))))
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
    """SimpleBaseline heatmap model: ``backbone`` (ResNet + deconvolutions) + ``head`` (a 1x1 conv)."""

    stride = 4
    size_multiple = 32

    def __init__(self, num_landmarks: int, *, in_channels: int = 1, depth: int = 18):
        super().__init__()
        if num_landmarks < 1 or in_channels < 1:
            raise ValueError(f"ResNet needs positive num_landmarks and in_channels, got {num_landmarks}, {in_channels}")
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {', '.join(map(str, DEPTHS))}, got {depth}")
        self.num_landmarks = num_landmarks
        self.backbone = ResNetBackbone(in_channels, depth)
        self.head = nn.Conv2d(DECONV_CHANNELS, num_landmarks, 1)
        nn.init.normal_(self.head.weight, std=1e-3)  # near-zero initial heatmaps, as SimpleBaseline's init
        nn.init.zeros_(self.head.bias)

    def check_input_size(self, height: int, width: int) -> None:
        require_divisible(height, width, self.size_multiple, "ResNet")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def build(num_landmarks: int, *, in_channels: int = 1, width: int = 32, channels: int = 16,
          stride: int | None = None, depth: int = 18) -> ResNetPose:
    """The architecture's entry point (`models.architectures`): `depth` from `model.resnet`; width and
    channels do not apply."""
    return ResNetPose(num_landmarks, in_channels=in_channels, depth=depth)


def pretrained_backbone(state: dict[str, torch.Tensor], in_channels: int = 1) -> dict[str, torch.Tensor] | None:
    """A torchvision-layout ResNet state dict as this backbone's weights (`fc` dropped), or None when
    `state` is not in that layout."""
    if "conv1.weight" not in state or not any(key.startswith("layer1.") for key in state):
        return None
    renamed = {}
    for key, value in state.items():
        if key.startswith("conv1."):
            name = "stem.0." + key[len("conv1."):]
        elif key.startswith("bn1."):
            name = "stem.1." + key[len("bn1."):]
        elif key[:5] == "layer" and key[5:6].isdigit():
            name = f"layers.{int(key[5]) - 1}{key[6:]}"
        else:
            continue  # fc: ImageNet's classifier
        renamed[name] = value
    kernel = renamed["stem.0.weight"]
    if kernel.shape[1] != in_channels and in_channels == 1:
        # A grey image replicated to RGB gives the same response from the summed kernel.
        renamed["stem.0.weight"] = kernel.sum(dim=1, keepdim=True)
    return renamed
