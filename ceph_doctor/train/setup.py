"""Build what a run needs from its config: device, data, codec, model.

Kept apart from the loop so the loop reads as training alone, and so the
sanity check and the checkpoint comparison build the same pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from ceph_doctor.codec import HeatmapCodec, PointCodec
from ceph_doctor.data.augment import AugmentSettings
from ceph_doctor.data.dataset import LandmarkDataset, PreparedSet, prepare
from ceph_doctor.data.image_io import read_grayscale
from ceph_doctor.data.sources import load_splits
from ceph_doctor.errors import ConfigError
from ceph_doctor.models import architectures, build_model, default_stride
from ceph_doctor.train.checkpoint import load_checkpoint
from ceph_doctor.train.distributed import SingleProcess


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available here")
    return device


def codec_for(config: dict) -> HeatmapCodec | PointCodec:
    if config["model"]["head"] == "sequence":
        return PointCodec(tuple(config["data"]["input_size"]))
    stride = config["codec"]["stride"] or default_stride(config["model"]["arch"])
    return HeatmapCodec(tuple(config["data"]["input_size"]), stride, config["codec"]["sigma"])


def model_for(config: dict, num_landmarks: int, stride: int) -> nn.Module:
    """The configured model; `stride` is the codec's (a sequence head's backbone keeps its own)."""
    model_settings = config["model"]
    arch = model_settings["arch"]
    sequence = model_settings["head"] == "sequence"
    if sequence:
        stride = config["codec"]["stride"] or default_stride(arch)
    strides = architectures.get(arch).STRIDES
    if stride not in strides:
        raise ConfigError(f"codec.stride: {arch} predicts at stride {' or '.join(map(str, strides))}, not {stride}; "
                          "leave codec.stride unset for its own")
    model = build_model(
        arch, num_landmarks, width=model_settings["width"], channels=model_settings["channels"], stride=stride,
        head=model_settings["head"], sequence=model_settings["sequence"] if sequence else None,
    )
    width, height = config["data"]["input_size"]
    try:
        model.check_input_size(height, width)
    except ValueError as error:
        raise ConfigError(f"data.input_size: {error}") from None
    if model_settings["pretrained"]:
        load_backbone(model, Path(model_settings["pretrained"]))
    return model


def load_backbone(model: nn.Module, path: Path) -> None:
    """Start `model.backbone` from a checkpoint's `backbone.*` weights (the head stays fresh)."""
    payload = load_checkpoint(path)
    state = payload.get("state_dict", payload)
    backbone = {key[len("backbone."):]: value for key, value in state.items() if key.startswith("backbone.")}
    if not backbone:
        raise ConfigError(f"model.pretrained: {path} holds no backbone.* weights")
    try:
        model.backbone.load_state_dict(backbone)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise ConfigError(f"model.pretrained: {path} does not fit this model's backbone ({first})") from None


@dataclass
class DataParts:
    """Prepared splits and their loaders. Under torch.distributed the
    evaluation loaders cover this rank's shard only; the full sets stay here
    so the shards can be put back together."""

    names: tuple[str, ...]
    train: PreparedSet
    val: PreparedSet
    train_subset: PreparedSet  # fixed training images evaluated like validation
    train_loader: DataLoader
    val_loader: DataLoader
    train_subset_loader: DataLoader

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Make epoch `epoch`'s shuffling and augmentation depend on (seed, epoch) alone, so resume repeats them."""
        loader = self.train_loader
        loader.dataset.set_epoch(epoch)
        if loader.sampler is not None and hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        if loader.generator is not None:
            loader.generator.manual_seed(seed * 100_003 + epoch)


def data_for(
    config: dict,
    codec: HeatmapCodec,
    device: torch.device,
    progress: Callable | None = None,
    dist=None,
) -> DataParts:
    train_set, val_set = load_splits(config)
    size = tuple(config["data"]["input_size"])
    train = prepare(train_set, size, read_grayscale, progress)
    val = prepare(val_set, size, read_grayscale, progress)
    # An evenly spaced subset, so it does not depend on the order of a folder listing's head.
    subset_size = min(config["data"]["train_subset"], len(train))
    step = len(train) / subset_size if subset_size else 1
    train_subset = train.subset(int(i * step) for i in range(subset_size))

    data = config["data"]
    pin = data["pin_memory"] if data["pin_memory"] != "auto" else device.type == "cuda"
    augment = AugmentSettings.from_config(config["augment"]) if data["augment"] else None
    seed = config["seed"]

    dist = dist or SingleProcess()

    def loader(dataset: LandmarkDataset, shuffle: bool = False, drop_last: bool = False) -> DataLoader:
        sampler = dist.sampler(dataset, seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=data["batch_size"],
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=data["num_workers"],
            pin_memory=pin,
            generator=torch.Generator() if shuffle and sampler is None else None,
        )

    # Dropping the last partial batch keeps BatchNorm away from a batch of one.
    drop_last = len(train) > data["batch_size"]
    return DataParts(
        names=train.names,
        train=train,
        val=val,
        train_subset=train_subset,
        train_loader=loader(LandmarkDataset(train, codec, augment, seed), shuffle=True, drop_last=drop_last),
        val_loader=loader(LandmarkDataset(dist.shard(val), codec)),
        train_subset_loader=loader(LandmarkDataset(dist.shard(train_subset), codec)),
    )
