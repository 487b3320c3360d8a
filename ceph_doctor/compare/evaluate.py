"""Read two checkpoints, rebuild their models, and run both over the same images.

Each model is rebuilt from the config inside its own checkpoint (arch, width,
input size, codec), so two runs with different settings are still measured
fairly: same image records, same truth, each model fed the way it was trained.
Predictions come back in original-image pixels, where the two can be paired.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from ceph_doctor.config import defaults, flatten, set_value
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.errors import ConfigError, UserInputError
from ceph_doctor.store.checkpoint import is_ceph_doctor_checkpoint, load_checkpoint

# Where other tools keep the weights inside a checkpoint dict, most specific first.
STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "ema", "net", "weights")
# Keys of a checkpoint that are never metric-like scalars worth showing.
NOT_METRICS = {"config", "train_state", "optimizer", "scheduler", "names", "format", "version", "lr_scheduler"}
# Wrappers that prefix every parameter name: DistributedDataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

Progress = Callable[[str, int], Callable[[int], None]]  # (task, total) → advance(n)


@dataclass
class Checkpoint:
    """What compare needs from one file: its weights and, for ceph-doctor checkpoints, how to rebuild it."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    kind: str  # "ceph-doctor" | "state_dict" (a bare one) | "wrapped" (weights under a key)
    config: dict | None = None
    names: list[str] | None = None
    epoch: int | None = None
    scalars: dict[str, float] = field(default_factory=dict)  # metric-like values stored inside


def read_checkpoint(path: Path) -> Checkpoint:
    with warnings.catch_warnings():
        # torch warns about a pickle protocol it does not expect before refusing the file:
        # the refusal is the one line the user needs.
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        payload = load_checkpoint(path)  # weights_only: a file that would run code is refused here
    path = Path(path)
    if is_ceph_doctor_checkpoint(payload):
        state, kind = payload["state_dict"], "ceph-doctor"
    else:
        state, kind = _find_state_dict(payload), "wrapped"
        if state is payload:
            kind = "state_dict"
        if state is None:
            keys = ", ".join(map(str, list(payload)[:6]))
            raise UserInputError(
                f"{path}: no tensors found (a state dict, or one under 'state_dict' or 'model'); keys: {keys}"
            )
    epoch = payload.get("epoch")
    return Checkpoint(
        path=path,
        state_dict=_unwrapped({key: value for key, value in state.items() if isinstance(value, torch.Tensor)}),
        kind=kind,
        config=payload.get("config") if isinstance(payload.get("config"), dict) else None,
        names=list(payload["names"]) if isinstance(payload.get("names"), (list, tuple)) else None,
        epoch=int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        # A bare state dict holds weights only: none of its tensors is a stored metric.
        scalars={} if kind == "state_dict" else dict(_scalars(payload, skip=state)),
    )


def _find_state_dict(payload: dict) -> dict | None:
    for key in STATE_DICT_KEYS:
        inner = payload.get(key)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner
    return payload if any(isinstance(v, torch.Tensor) for v in payload.values()) else None


def _unwrapped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a prefix every name carries, so a DDP or compiled model's weights pair with a plain one's."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(name.startswith(prefix) for name in state):
            state = {name[len(prefix):]: value for name, value in state.items()}
    return state


def _scalars(tree: dict, skip: Any, prefix: str = "", depth: int = 0):
    for key, value in tree.items():
        if value is skip or str(key) in NOT_METRICS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            yield name, float(value)
        elif isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point:
            yield name, float(value)
        elif isinstance(value, dict) and depth < 2:
            yield from _scalars(value, skip, f"{name}.", depth + 1)


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
