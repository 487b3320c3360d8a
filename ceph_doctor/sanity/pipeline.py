"""What the overfit check needs from a pipeline, and ceph-doctor's own pipeline in that shape.

A pipeline is the chain from one batch to a metric: model, loss, decoding,
the map back to original pixels, and the metric. Anything with these members
is a `CheckablePipeline` (a structural protocol: no base class to inherit):

    model                       torch.nn.Module, trained in place
    batch()                     (inputs, targets): inputs go to model(inputs), targets to loss()
    loss(output, targets)       scalar tensor
    decode(output)              (B, K, 2) x, y in input px (numpy or tensor)
    to_original(points)         (B, K, 2) input px → original-image px
    truth                       (B, K, 2) original px; NaN = landmark not annotated
    metric(pred, truth)         PCK@0.05 in % of (B, K, 2) original-px arrays: the metric under test

Optional members, each switching on a stage or sharpening a verdict:

    decode_targets(targets)     where the targets put the landmarks, read the way decode reads
                                predictions (default: decode(targets))
    heatmaps(output, targets)   (predicted, target) heatmaps (B, K, h, w): stage 2 runs
    stride                      input px per output px (default 1)
    input_size, original_size   (width, height): stage 4 can then name a resize bug
    decode_autoregressive(inputs) and decode_teacher_forced(inputs, targets)
                                (B, K, 2) input px from a sequence decoder: stage 6 runs
    train_output(inputs, targets, progress)
                                the output training computes its loss on at `progress` (0 → 1 over
                                the steps; default: model(inputs)): a sequence decoder trains
                                teacher-forced, or under its scheduled sampling
    judged_output(inputs, targets)
                                the output stages 1-5 judge (default: model(inputs) in eval mode):
                                a sequence decoder gives its teacher-forced output, so that decoding,
                                frames and the metric are judged apart from autoregression (stage 6)

Example, a coordinate-regression model of your own::

    class MyPipeline:
        def __init__(self, model, loader):
            self.model = model
            self.images, self.points = next(iter(loader))  # points: (B, K, 2) in [0, 1]
            self.truth = self.points.numpy() * [1935, 2400]  # original px
        def batch(self):
            return self.images, self.points
        def loss(self, output, targets):
            return torch.nn.functional.mse_loss(output, targets)
        def decode(self, output):
            return output.detach() * 512  # input px of a 512 x 512 input
        def to_original(self, points):
            return points * [1935 / 512, 2400 / 512]
        def metric(self, pred, truth):
            return my_pck(pred, truth, alpha=0.05)

    report = overfit_check(MyPipeline(model, loader), steps=300, lr=1e-3)
    print(report.verdict())
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ceph_doctor.data.dataset import LandmarkDataset, prepare, to_original_pixels
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.errors import UserInputError
from ceph_doctor.metrics import landmark_metrics, pck_key


@runtime_checkable
class CheckablePipeline(Protocol):
    """The required members; see the module docstring for the optional ones."""

    model: nn.Module
    truth: np.ndarray

    def batch(self) -> tuple[Any, Any]: ...

    def loss(self, output: Any, targets: Any) -> torch.Tensor: ...

    def decode(self, output: Any) -> np.ndarray: ...

    def to_original(self, points: np.ndarray) -> np.ndarray: ...

    def metric(self, pred: np.ndarray, truth: np.ndarray) -> float: ...


class ConfiguredPipeline:
    """ceph-doctor's own pipeline (`ceph_doctor.pipeline`), from a config, on one image repeated `repeats` times.

    Augmentation is off whatever the config says: the check asks whether the
    pipeline can learn one fixed picture, and a moving target would blur that.
    """

    def __init__(self, config: dict, image: str | None = None, repeats: int = 1):
        from ceph_doctor.data.image_io import read_grayscale
        from ceph_doctor.pipeline import Pipeline, resolve_device

        self.config = config
        self.device = device = resolve_device(config["train"]["device"])
        record, names = find_record(config, image)
        self.image_id = record.image_id
        prepared = prepare(LandmarkSet(names, [record]), tuple(config["data"]["input_size"]), read_grayscale)
        self.names = prepared.names
        self.original_image = record.pixels()

        torch.manual_seed(config["seed"])  # the same config starts from the same weights
        self.configured = Pipeline.from_config(config, len(self.names), device)
        self.codec = self.configured.codec
        self.model = self.configured.model
        item = LandmarkDataset(prepared, self.codec, augment_settings=None)[0]
        self._inputs = item["image"].unsqueeze(0).repeat(repeats, 1, 1, 1).to(device)
        self._targets = {
            key: item[key].unsqueeze(0).repeat(repeats, *[1] * item[key].ndim).to(device)
            for key in ("targets", "weights")
        }
        self._scales = np.repeat(prepared.scales[:, None, :], repeats, axis=0)  # (B, 1, 2) input px per original px
        self.truth = np.repeat(prepared.landmarks, repeats, axis=0).astype(np.float64)
        # As training runs it: a backbone frozen for good stays frozen; one frozen for a few epochs
        # is checked as it trains afterwards, whole.
        self.configured.freeze_backbone(self.configured.frozen_in_epoch(None))
        self.stride = self.codec.stride
        self.input_size = tuple(config["data"]["input_size"])
        self.original_size = tuple(int(v) for v in prepared.original_sizes[0])
        self._coins = torch.Generator().manual_seed(config["seed"])
        # The optional members exist only where they apply: the overfit check runs a stage when it finds one.
        if self.configured.autoregressive:
            self.configured.set_support(prepared)
            self.train_output = self._sampled_output
            self.judged_output = self._teacher_forced_output
            self.decode_autoregressive = self._decode_autoregressive
            self.decode_teacher_forced = self._decode_teacher_forced
        else:
            self.heatmaps = self._heatmaps

    def batch(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._inputs, self._targets

    def loss(self, output: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.configured.loss(output, targets["targets"], targets["weights"])

    def decode(self, output: torch.Tensor) -> np.ndarray:
        coords, _, _ = self.configured.decode(output.detach())
        return coords.cpu().numpy().astype(np.float64)

    def decode_targets(self, targets: dict[str, torch.Tensor]) -> np.ndarray:
        # Read through self.decode, not the encoded positions: a frame bug in
        # decoding then moves targets and predictions alike, stage 3 judges the
        # network's heatmaps alone, and stage 4 is where the frame bug shows.
        return self.decode(targets["targets"])

    def _heatmaps(self, output: torch.Tensor, targets: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return output, targets["targets"]

    def _sampled_output(self, inputs: torch.Tensor, targets: dict[str, torch.Tensor], progress: float) -> torch.Tensor:
        """As training runs it: the configured scheduled sampling, over the check's steps."""
        probability = self.configured.teacher_forcing_at(progress)
        return self.model(inputs, teacher=targets["targets"], teacher_forcing=probability, generator=self._coins)

    def _teacher_forced_output(self, inputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(inputs, teacher=targets["targets"])

    def _decode_autoregressive(self, inputs: torch.Tensor) -> np.ndarray:
        return self.decode(self.model(inputs))

    def _decode_teacher_forced(self, inputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> np.ndarray:
        return self.decode(self._teacher_forced_output(inputs, targets))

    def to_original(self, points: np.ndarray) -> np.ndarray:
        return to_original_pixels(np.asarray(points, np.float64), self._scales)

    def metric(self, pred: np.ndarray, truth: np.ndarray) -> float:
        """PCK@0.05 as training reports it (ceph_doctor.metrics)."""
        return landmark_metrics(pred, truth).overall[pck_key(0.05)]


_SYNTHETIC_ID = re.compile(r"synthetic-(train|val)-(\d+)")


def find_record(config: dict, image: str | None) -> tuple[LandmarkRecord, tuple[str, ...]]:
    """The configured data's record for `image`: an id, a file the annotations name, or None (first training image).

    A file outside the configured data has no truth, so it is refused rather
    than guessed at: the annotations are the only source of truth.
    """
    from ceph_doctor.pipeline import load_splits

    train, val = load_splits(_only_needed_synthetic(config, image))
    if image is None:
        if not train.records:
            raise UserInputError("the configured training split has no images")
        return train.records[0], tuple(train.names)
    records = [*train.records, *val.records]
    for record in records:
        if record.image_id == image:
            return _checked(record, image), tuple(train.names)
    path = Path(image).expanduser()
    if path.suffix or path.exists():
        wanted = path.resolve()
        for record in records:
            if record.image_path is not None and Path(record.image_path).resolve() == wanted:
                return _checked(record, image), tuple(train.names)
        where = config["data"]["root"] or "the built-in synthetic images, which have no files"
        raise UserInputError(
            f"--image {image}: not an image of the configured data ({where}); "
            f"its truth must come from the annotations: give an image id such as {records[0].image_id}"
        )
    data = config["data"]
    if data["source"] == "synthetic":
        counts = data["synthetic"]
        examples = (f"synthetic-train-0000 … {counts['train_images'] - 1:04d}, "
                    f"synthetic-val-0000 … {counts['val_images'] - 1:04d}")
    else:
        examples = ", ".join(record.image_id for record in records[:3])
    raise UserInputError(f"--image {image}: no image with this id in the configured data "
                         f"(data.source={data['source']}); ids: {examples}")


def _only_needed_synthetic(config: dict, image: str | None) -> dict:
    """Render only up to the wanted synthetic image: image i depends on (seed, split, i) alone."""
    data = config["data"]
    if data["source"] != "synthetic":
        return config
    wanted = {"train": 1, "val": 1}
    match = _SYNTHETIC_ID.fullmatch(image or "")
    if match:
        wanted[match.group(1)] = int(match.group(2)) + 1
    counts = {
        f"{split}_images": min(data["synthetic"][f"{split}_images"], count) for split, count in wanted.items()
    }
    synthetic = {**data["synthetic"], **counts}
    return {**config, "data": {**data, "synthetic": synthetic}}


def _checked(record: LandmarkRecord, image: str) -> LandmarkRecord:
    if np.isfinite(record.landmarks).all(axis=1).sum() < 2:
        raise UserInputError(f"--image {image}: fewer than two annotated landmarks; nothing to overfit")
    return record
