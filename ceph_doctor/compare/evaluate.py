"""Rebuild the models of two checkpoints (read by `checkpoint_file.py`) and run both over the same images.

Each model is rebuilt from the config inside its own checkpoint (arch, width,
input size, codec), so two runs with different settings are still measured
fairly: same image records, same truth, each model fed the way it was trained.
Predictions come back in original-image pixels, where the two can be paired.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from torch.utils.data import DataLoader

from ceph_doctor.compare.checkpoint_file import Checkpoint
from ceph_doctor.config import defaults, flatten, set_value
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.errors import ConfigError, UserInputError

Progress = Callable[[str, int], Callable[[int], None]]  # (task, total) → advance(n)


def complete_config(partial: dict, origin: str) -> dict:
    """A checkpoint's config over today's defaults: keys added since it was written get their default."""
    config = defaults()
    for key, value in flatten(partial).items():
        if key in SCHEMA:  # a key dropped since then cannot change how the model is rebuilt
            set_value(config, key, value, origin=origin)
    config["model"]["pretrained"] = None  # the checkpoint holds every weight; do not fetch a backbone
    return config


def evaluation_config(config: dict, data_overrides: list[tuple[str, Any]]) -> dict:
    """The config whose validation split is the evaluation set: A's, with `--data` applied."""
    config = copy.deepcopy(config)
    for key, value in data_overrides:
        if not key.startswith("data."):
            raise ConfigError(f"--data {key}: only data.* keys choose the evaluation images")
        if key == "data.input_size":
            raise ConfigError("--data data.input_size: each checkpoint is fed at its own trained input size")
        set_value(config, key, value, origin="--data")
    if config["data"]["source"] == "synthetic":
        # Only the validation split is used; synthetic images are seeded per split and index,
        # so rendering a single training image leaves the validation images unchanged.
        config["data"]["synthetic"]["train_images"] = 1
    return config


@dataclass
class Evaluated:
    """One model's predictions on the evaluation images."""

    result: Any  # ceph_doctor.train.evaluate.SplitResult
    prepared: Any  # ceph_doctor.data.dataset.PreparedSet, at this model's input size


def evaluate_on(checkpoint: Checkpoint, config: dict, records, label: str, prepared_cache: dict,
                progress: Progress | None = None) -> Evaluated:
    """Rebuild `checkpoint`'s model from `config` and run it over `records` (a LandmarkSet)."""
    from ceph_doctor.data.dataset import LandmarkDataset, prepare
    from ceph_doctor.data.image_io import read_grayscale
    from ceph_doctor.pipeline import Pipeline, resolve_device
    from ceph_doctor.train.evaluate import evaluate_split

    names = checkpoint.names or list(records.names)
    if list(names) != list(records.names):
        raise UserInputError(
            f"{checkpoint.path}: predicts {len(names)} landmarks ({', '.join(names[:3])}…) but the evaluation "
            f"images have {len(records.names)} ({', '.join(records.names[:3])}…)"
        )
    device = resolve_device("auto")
    # The pipeline applies the config's deliberate faults too, so compare shows what the run saw.
    pipeline = Pipeline.from_config(config, len(names))
    try:
        pipeline.model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise UserInputError(
            f"{checkpoint.path}: weights do not fit the model its config describes ({first})"
        ) from None
    pipeline.model.to(device)

    size = tuple(config["data"]["input_size"])
    if size not in prepared_cache:
        advance = progress(f"preparing images at {size[0]}×{size[1]}", len(records)) if progress else None
        prepared_cache[size] = prepare(records, size, read_grayscale, advance)
    prepared = prepared_cache[size]
    loader = DataLoader(LandmarkDataset(prepared, pipeline.codec), batch_size=config["data"]["batch_size"],
                        num_workers=0)
    advance = progress(f"evaluating {label}", len(prepared)) if progress else None
    # An autoregressive decoder is compared as inference runs it: autoregressively.
    result = evaluate_split("val", pipeline, _Counted(loader, advance), prepared, device)
    return Evaluated(result, prepared)


class _Counted:
    """A loader that reports each batch's images to a progress bar as it goes."""

    def __init__(self, loader: DataLoader, advance: Callable[[int], None] | None):
        self.loader, self.advance = loader, advance

    def __iter__(self):
        for batch in self.loader:
            yield batch
            if self.advance is not None:
                self.advance(len(batch["image"]))

    def __len__(self) -> int:
        return len(self.loader)


def evaluation_records(config: dict):
    """The validation split that `config` selects."""
    from ceph_doctor.pipeline import load_splits

    return load_splits(config)[1]


@dataclass
class PairEvaluation:
    """A and B on the same images: the truth once, each side's predictions and metrics."""

    names: list[str]
    image_ids: list[str]
    true: np.ndarray  # (N, K, 2) original px, NaN = not annotated
    spacing_mm: np.ndarray  # (N,), NaN = unknown
    a: Evaluated
    b: Evaluated
    description: str


def evaluate_pair(a: Checkpoint, b: Checkpoint, data_overrides: list[tuple[str, Any]],
                  progress: Progress | None = None) -> tuple[PairEvaluation | None, str | None]:
    """Both models on the evaluation images, or (None, why not) when they cannot be rebuilt or paired."""
    if a.config is None and b.config is None:
        if data_overrides:
            raise UserInputError(f"--data: neither {a.path} nor {b.path} carries a ceph-doctor config to rebuild from")
        return None, "neither checkpoint carries a ceph-doctor config to rebuild its model from: weights compared only"
    if a.names and b.names and list(a.names) != list(b.names):
        return None, (f"A predicts {len(a.names)} landmarks and B {len(b.names)} (or in another order): "
                      "predictions not paired")
    # A checkpoint without a config borrows the other's: exported weights of the same model still evaluate.
    config_a = complete_config(a.config or b.config, f"{a.path if a.config else b.path}: config")
    config_b = complete_config(b.config or a.config, f"{b.path if b.config else a.path}: config")
    settings = evaluation_config(config_a, data_overrides)
    records = evaluation_records(settings)
    if len(records) == 0:
        raise UserInputError(f"the evaluation set ({settings['data']['source']} validation split) holds no images")
    cache: dict = {}
    evaluated = []
    for label, checkpoint, config in (("A", a, config_a), ("B", b, config_b)):
        try:
            evaluated.append(evaluate_on(checkpoint, config, records, label, cache, progress))
        except UserInputError as error:
            if checkpoint.config is not None:
                raise
            return None, (f"{label} holds no config and its weights do not fit the other's model ({error}): "
                          "weights compared only")
    first = evaluated[0].result
    source = settings["data"]["source"]
    where = f" at {settings['data']['root']}" if settings["data"].get("root") else ""
    description = f"{source} validation split{where}, {len(first.image_ids)} images"
    if data_overrides:
        description += " (--data " + ", ".join(f"{key}={value}" for key, value in data_overrides) + ")"
    return PairEvaluation(
        names=list(records.names), image_ids=list(first.image_ids), true=np.asarray(first.true),
        spacing_mm=np.asarray(first.spacing_mm), a=evaluated[0], b=evaluated[1], description=description,
    ), None
