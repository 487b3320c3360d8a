"""The data a run trains and validates on, from its config: prepared splits and their loaders.

Kept apart from the loop so the loop reads as training alone; the model side (codec, model, loss,
decoding) is `ceph_doctor.pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch.utils.data import DataLoader

from ceph_doctor.codec import HeatmapCodec, PointCodec
from ceph_doctor.data.augment import AugmentSettings
from ceph_doctor.data.dataset import LandmarkDataset, PreparedSet, prepare
from ceph_doctor.data.image_io import read_grayscale
from ceph_doctor.data.records import LandmarkSet
from ceph_doctor.models.refiner import Refinement
from ceph_doctor.pipeline import loading_delay_s, name_pairs
from ceph_doctor.train.distributed import SingleProcess


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
    splits: tuple[LandmarkSet, LandmarkSet],
    codec: HeatmapCodec | PointCodec,
    device: torch.device,
    progress: Callable | None = None,
    dist=None,
) -> DataParts:
    """`splits` (training, validation; `pipeline.load_splits`) prepared at input size, and their loaders."""
    train_set, val_set = splits
    size = tuple(config["data"]["input_size"])
    refinement = Refinement.from_config(config)
    sharper = refinement.scale if refinement else None  # a refinement stage's windows come from these
    train = prepare(train_set, size, read_grayscale, progress, sharper)
    val = prepare(val_set, size, read_grayscale, progress, sharper)
    if config["augment"].get("flip_pairs") is not None:  # the twins a training flip swaps, by name
        train = replace(train, flip_pairs=name_pairs(config["augment"]["flip_pairs"], train.names, "augment.flip_pairs"))
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
        train_loader=loader(LandmarkDataset(train, codec, augment, seed, loading_delay_s(config)),
                            shuffle=True, drop_last=drop_last),
        val_loader=loader(LandmarkDataset(dist.shard(val), codec)),
        train_subset_loader=loader(LandmarkDataset(dist.shard(train_subset), codec)),
    )
