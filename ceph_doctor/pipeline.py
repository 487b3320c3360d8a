"""Config → the chain from a batch of images to landmarks in original-image pixels.

The one place a model is built from a config. The trainer, the overfit check and the checkpoint
comparison each take a `Pipeline`, so the codec, the model under its head, the loss, the decoding
and the map back to the original image are the same wherever a run is trained, checked or compared.
It is also the one module that reads `faults.*`, the deliberate bugs the failure scenarios
reproduce: each is applied here, once, and so reaches training, sanity and compare alike.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import torch
from torch import nn

from ceph_doctor.codec import HeatmapCodec, PointCodec
from ceph_doctor.data.dataset import LandmarkDataset, PreparedSet, to_input_pixels, to_original_pixels
from ceph_doctor.data import tta
from ceph_doctor.data.records import LandmarkSet
from ceph_doctor.errors import ConfigError
from ceph_doctor.models import architectures, build_model, heads, losses
from ceph_doctor.models.auxiliary import AuxiliaryTask, attach_auxiliary_head, auxiliary_output
from ceph_doctor.models.refiner import Refinement, attach_refiner, refine, refinement_loss
from ceph_doctor.store.checkpoint import load_checkpoint

LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Prediction:
    """A batch's landmarks as a user of the model gets them."""

    output: torch.Tensor  # the model's output as float: heatmaps (B, K, h, w) or points (B, K, 2) in [0, 1]
    points: np.ndarray  # (B, K, 2) original-image px
    peak: np.ndarray | None  # (B, K) heatmap maximum (heatmap heads)
    width: np.ndarray | None  # (B, K) heatmap peak width in heatmap px (heatmap heads)


class Pipeline:
    """Codec, model, loss and decoding of one config; build it with `Pipeline.from_config`."""

    def __init__(self, config: dict, codec: HeatmapCodec | PointCodec, model: nn.Module,
                 loss_terms: dict[str, tuple[float, ModuleType]], head: ModuleType) -> None:
        self.config = config
        self.codec = codec
        self.model = model
        # name -> (weight, loss(output, targets, weights) -> scalar): `model.loss` alone, or `loss.terms`
        self.terms = {name: (weight, _in_units(module, config)) for name, (weight, module) in loss_terms.items()}
        self.loss_name = " + ".join(self.terms)
        self.autoregressive = head.AUTOREGRESSIVE  # fed its own previous points: teacher forcing applies
        self.tta_views = tta.views_for(config["eval"]["tta"])  # [] = no test-time augmentation
        self.aux = AuxiliaryTask.from_config(config)  # None = the landmarks alone
        self.refinement = Refinement.from_config(config)  # None = one stage

    @classmethod
    def from_config(cls, config: dict, num_landmarks: int, device: torch.device | None = None) -> Pipeline:
        head = _module(heads, config["model"]["head"], "model.head")
        codec = codec_for(config, head)
        model = model_for(config, head, num_landmarks, codec.stride)
        return cls(config, codec, model.to(device) if device is not None else model, loss_terms_for(config, head), head)

    @property
    def stride(self) -> int:
        return self.codec.stride

    # ---------------------------------------------------- how it is scored
    def loss_parts(self, output: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each loss term, weighted, by name; the loss is their sum."""
        return {name: weight * term(output, targets, weights) for name, (weight, term) in self.terms.items()}

    def loss(self, output: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(self.loss_parts(output, targets, weights).values())

    def aux_targets(self, labels: torch.Tensor, label_names: tuple[str, ...]) -> torch.Tensor:
        """(B,) the auxiliary task's label out of a batch's labels (B, L) in `label_names` order."""
        return labels[:, label_names.index(self.aux.label)]

    def aux_loss(self, model: nn.Module, labels: torch.Tensor, label_names: tuple[str, ...]) -> torch.Tensor:
        """The auxiliary task's weighted loss on the features of `model`'s last forward pass."""
        return self.aux.weight * self.aux.loss(auxiliary_output(model), self.aux_targets(labels, label_names))

    def refinement_loss(self, model: nn.Module, sharper: torch.Tensor, points: torch.Tensor,
                        generator: torch.Generator, names: tuple[str, ...]) -> torch.Tensor:
        """Stage 2's loss on windows of the sharper images around the true points (input px), seeded."""
        swapped = self.config["faults"]["refine_swapped_pairs"]
        if swapped:  # the deliberate bug: stage 2's targets in another landmark order
            order = list(range(points.shape[1]))
            for a, b in name_pairs(swapped, names, "faults.refine_swapped_pairs"):
                order[a], order[b] = b, a
            points = points[:, order]
        return refinement_loss(model.refiner, sharper, points, self.refinement, generator)

    # ---------------------------------------------------- how it trains
    def frozen_in_epoch(self, epoch: int | None) -> bool:
        """Whether `model.unfreeze_after` keeps the backbone frozen in `epoch` (None: after any warm-up)."""
        unfreeze_after = self.config["model"]["unfreeze_after"]
        if unfreeze_after is None:
            return False
        return unfreeze_after == "never" or (epoch is not None and epoch <= unfreeze_after)

    def freeze_backbone(self, frozen: bool) -> None:
        self.model.backbone.requires_grad_(not frozen)

    def train_mode(self, epoch: int) -> tuple[bool, bool]:
        """Put the model in training mode for `epoch`, its frozen parts frozen (BatchNorm statistics too);
        returns whether stage 1 and a refinement stage train in it."""
        frozen = self.frozen_in_epoch(epoch)
        self.freeze_backbone(frozen)
        self.model.train()
        if frozen:
            self.model.backbone.eval()
        refinement = self.refinement
        stage_one = refinement is None or refinement.trains_stage_one(epoch)
        if not stage_one:  # `model.refine.after_epoch`: stage 2 trains on a fixed stage 1
            for name, parameter in self.model.named_parameters():
                parameter.requires_grad_(name.startswith("refiner."))
            self.model.eval()
            self.model.refiner.train()
        return stage_one, refinement is not None and refinement.trains_stage_two(epoch)

    def teacher_forcing_at(self, progress: float) -> float:
        """The probability of feeding the true previous point at training progress `progress` (0 → 1)."""
        from ceph_doctor.models.sampling import teacher_forcing_probability

        return teacher_forcing_probability(self.config["train"]["scheduled_sampling"], progress)

    def set_support(self, prepared: PreparedSet) -> None:
        """Give a decoder that attends to a support example its one: `prepared`'s first image and landmarks."""
        if not (self.autoregressive and self.config["model"]["sequence"]["support"]):
            return
        item = LandmarkDataset(prepared, self.codec)[0]
        device = next(self.model.parameters()).device
        self.model.set_support(item["image"][None].to(device), item["targets"].to(device))

    # ---------------------------------------------------- how it predicts
    def decode(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(points in input px, peak, width) of a model output; peak and width only for heatmaps."""
        if isinstance(self.codec, PointCodec):
            return self.codec.decode(output.float()), None, None
        decoded = self.codec.decode(output.float())
        coords = decoded.coords
        if self.config["faults"]["skip_stride_rescale"]:  # the deliberate bug: points left in heatmap px
            coords = coords / self.codec.stride
        return coords, decoded.peak, decoded.width

    @torch.no_grad()
    def predict(self, images: torch.Tensor, scales: np.ndarray, *, model: nn.Module | None = None,
                autocast: Callable = nullcontext, teacher: torch.Tensor | None = None) -> Prediction:
        """Landmarks of `images` in original px (`scales`: (B, 2) input px per original px).

        `model` stands in for the pipeline's own (an averaged copy, a wrapped one); `teacher` (the
        true points) runs a sequence decoder teacher-forced instead of autoregressively.
        """
        model = model or self.model
        with autocast():
            output = model(images) if teacher is None else model(images, teacher=teacher)
        output = output.float()
        coords, peak, width = self.decode(output)
        points = to_original_pixels(coords.cpu().numpy(), np.asarray(scales)[:, None, :])
        return Prediction(output, points, _numpy(peak), _numpy(width))

    @torch.no_grad()
    def predict_tta(self, images: torch.Tensor, scales: np.ndarray, flip_pairs: tuple[tuple[int, int], ...], *,
                    model: nn.Module | None = None, autocast: Callable = nullcontext) -> np.ndarray:
        """(B, K, 2) original px: the mean over `tta_views` of each view's points, mapped back to the input."""
        model = model or self.model
        height, width = images.shape[-2:]
        total = None
        for view in self.tta_views:
            with autocast():
                output = model(tta.warp(images, view) if not view.plain else images)
            coords = self.decode(output.float())[0]
            back = tta.points_back(coords.double(), view, width, height, flip_pairs)
            total = back if total is None else total + back
        coords = (total / len(self.tta_views)).cpu().numpy()
        return to_original_pixels(coords, np.asarray(scales)[:, None, :]).astype(np.float32)

    @torch.no_grad()
    def predict_refined(self, sharper: torch.Tensor, points: np.ndarray, scales: np.ndarray, *,
                        model: nn.Module | None = None, autocast: Callable = nullcontext) -> np.ndarray:
        """(B, K, 2) original px: stage 2 on windows of the sharper images around stage 1's `points`
        (original px)."""
        model = model or self.model
        scales = np.asarray(scales)[:, None, :]
        centres = torch.from_numpy(to_input_pixels(points, scales)).to(sharper.device)
        with autocast():
            refined = refine(model.refiner, sharper, centres, self.refinement)
        return to_original_pixels(refined.float().cpu().numpy(), scales).astype(np.float32)

    def tta_flip_pairs(self, names: tuple[str, ...], source_pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        """The twins a flipped view swaps back: `eval.tta.flip_pairs` by name, or the data source's own."""
        pairs = self.config["eval"]["tta"]["flip_pairs"]
        return source_pairs if pairs is None else name_pairs(pairs, names, "eval.tta.flip_pairs")


def name_pairs(pairs: list[list[str]], names: tuple[str, ...], key: str) -> tuple[tuple[int, int], ...]:
    """Pairs of landmark names as pairs of their indices in `names`; an unknown name is refused in one line."""
    position = {name: index for index, name in enumerate(names)}
    unknown = [name for pair in pairs for name in pair if name not in position]
    if unknown:
        raise ConfigError(f"{key}: {unknown[0]!r} is not a landmark of this data set")
    return tuple((position[a], position[b]) for a, b in pairs)


def _numpy(values: torch.Tensor | None) -> np.ndarray | None:
    return None if values is None else values.cpu().numpy()


def resolve_device(name: str) -> torch.device:
    """`train.device` as a torch device: auto is CUDA where there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available here")
    return device


def _module(registry, name: str, key: str):
    try:
        return registry.get(name)
    except KeyError as error:
        raise ConfigError(f"{key}: {error.args[0]}") from None


def output_stride(config: dict) -> int:
    """The stride the model predicts at: `codec.stride`, or the architecture's own."""
    return config["codec"]["stride"] or architectures.get(config["model"]["arch"]).DEFAULT_STRIDE


def codec_for(config: dict, head: ModuleType) -> HeatmapCodec | PointCodec:
    size = tuple(config["data"]["input_size"])
    if head.OUTPUT == "points":
        return PointCodec(size)
    return HeatmapCodec(size, output_stride(config), config["codec"]["sigma"])


def loss_terms_for(config: dict, head: ModuleType) -> dict[str, tuple[float, ModuleType]]:
    """name -> (weight, loss module): `loss.terms` where set, else `model.loss` (auto: the head's own) at weight 1."""
    terms = config["loss"]["terms"]
    key = "loss.terms" if terms else "model.loss"
    if not terms:
        name = config["model"]["loss"]
        terms = {head.DEFAULT_LOSS if name == "auto" else name: 1.0}
    chosen = {}
    for name, weight in terms.items():
        loss = _module(losses, name, key)
        if loss.OUTPUT != head.OUTPUT:
            raise ConfigError(f"{key}: {name} compares {loss.OUTPUT}, but the {config['model']['head']} head "
                              f"outputs {head.OUTPUT}; use a loss for {head.OUTPUT}"
                              + (" or auto" if key == "model.loss" else ""))
        chosen[name] = (float(weight), loss)
    return chosen


def _in_units(loss: ModuleType, config: dict) -> LossFunction:
    """The loss as the head's outputs reach it; points scaled to input px for a loss measured in pixels."""
    if getattr(loss, "UNITS", None) != "input px":
        return loss.loss
    size = torch.tensor(config["data"]["input_size"], dtype=torch.float32)  # (width, height): x, y scale

    def in_pixels(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        scale = size.to(pred.device)
        return loss.loss(pred * scale, target * scale, weights)

    return in_pixels


def model_for(config: dict, head: ModuleType, num_landmarks: int, stride: int) -> nn.Module:
    """The configured model; `stride` is the codec's (a points head's backbone keeps its own)."""
    settings = config["model"]
    arch = settings["arch"]
    if head.OUTPUT == "points":
        stride = output_stride(config)
    strides = architectures.get(arch).STRIDES
    if stride not in strides:
        raise ConfigError(f"codec.stride: {arch} predicts at stride {' or '.join(map(str, strides))}, not {stride}; "
                          "leave codec.stride unset for its own")
    model = build_model(
        arch, num_landmarks, width=settings["width"], channels=settings["channels"], stride=stride,
        head=settings["head"], head_settings=settings.get(settings["head"]) or {},
        arch_settings=settings.get(arch) or {},
    )
    width, height = config["data"]["input_size"]
    try:
        model.check_input_size(height, width)
    except ValueError as error:
        raise ConfigError(f"data.input_size: {error}") from None
    aux = AuxiliaryTask.from_config(config)
    if aux is not None:
        if not hasattr(getattr(model, "backbone", None), "out_channels"):
            raise ConfigError(f"model.aux.label: the {settings['head']} head has no pooled backbone features for a "
                              "second task; use a heatmap, regression or integral head")
        attach_auxiliary_head(model, aux.outputs)
    refinement = Refinement.from_config(config)
    if refinement is not None:
        attach_refiner(model, num_landmarks, refinement)
    if settings["pretrained"]:
        load_backbone(model, Path(settings["pretrained"]), arch)
    return model


def load_backbone(model: nn.Module, path: Path, arch: str | None = None) -> None:
    """Start `model.backbone` from a checkpoint's `backbone.*` weights (the head stays fresh), or from a
    file in a layout the architecture knows (`pretrained_backbone`, e.g. torchvision's ResNet), which
    may leave the parts it lacks (`FRESH_IN_PRETRAINED`) fresh."""
    payload = load_checkpoint(path)
    state = payload.get("state_dict", payload)
    backbone = {key[len("backbone."):]: value for key, value in state.items() if key.startswith("backbone.")}
    fresh: tuple[str, ...] = ()
    module = architectures.get(arch) if arch else None
    if not backbone and hasattr(module, "pretrained_backbone"):
        backbone = module.pretrained_backbone(state) or {}
        fresh = module.FRESH_IN_PRETRAINED
    if not backbone:
        raise ConfigError(f"model.pretrained: {path} holds no backbone.* weights")
    try:
        missing, unexpected = model.backbone.load_state_dict(backbone, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise ConfigError(f"model.pretrained: {path} does not fit this model's backbone ({first})") from None
    missing = [key for key in missing if not any(key.startswith(prefix) for prefix in fresh)]
    if missing or unexpected:
        names = ", ".join((missing or unexpected)[:3])
        problem = "lacks" if missing else "has weights this backbone does not:"
        raise ConfigError(f"model.pretrained: {path} does not fit this model's backbone ({problem} {names})")


# ------------------------------------------------------------ the data, with its faults
def loading_delay_s(config: dict) -> float:
    """Seconds each training image waits before it is loaded: `faults.slow_loader_s`, a slow disk or a heavy
    decode, the data-bound scenario's fault (0 in real training)."""
    return float(config["faults"]["slow_loader_s"])


def load_splits(config: dict) -> tuple[LandmarkSet, LandmarkSet]:
    """The configured (training, validation) splits, as training sees them."""
    from ceph_doctor.data.sources import read_splits

    train, val = read_splits(config)
    if config["faults"]["train_label_noise"]:
        train = jittered(train, config["faults"]["train_label_noise"], config["seed"])
    if config["faults"]["shuffle_aux_labels"]:
        train = misjoined_labels(train, config["seed"])
    train, _ = with_wrong_labels(train, config)
    return train, val


def with_wrong_labels(landmark_set: LandmarkSet, config: dict) -> tuple[LandmarkSet, set[tuple[str, str]]]:
    """The training labels with the deliberate labelling bugs of `faults.swap_labels` and
    `faults.wrong_labels_share`, and which (image id, landmark) labels they made wrong: the known answer a
    label check is scored against. Seeded, so the same config always corrupts the same labels."""
    faults, names = config["faults"], landmark_set.names
    rng = np.random.default_rng((config["seed"], 65537))
    pairs = name_pairs(faults["swap_labels"], names, "faults.swap_labels") if faults["swap_labels"] else ()
    records, wrong = [], set()
    for record in landmark_set.records:
        points = record.landmarks.copy()
        if pairs and rng.random() < faults["swap_labels_share"]:
            for a, b in pairs:
                points[[a, b]] = points[[b, a]]
                wrong |= {(record.image_id, names[a]), (record.image_id, names[b])}
        if faults["wrong_labels_share"] and rng.random() < faults["wrong_labels_share"]:
            landmark = int(rng.integers(len(names)))
            width = record.image.shape[1] if record.image is not None else float(np.nanmax(points[:, 0]))
            angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.2) * width
            points[landmark] += np.float32(reach) * np.array([np.cos(angle), np.sin(angle)], np.float32)
            wrong.add((record.image_id, names[landmark]))
        records.append(replace(record, landmarks=points))
    if not wrong:
        return landmark_set, wrong
    return LandmarkSet(names, records, landmark_set.flip_pairs, landmark_set.source), wrong


def misjoined_labels(landmark_set: LandmarkSet, seed: int) -> LandmarkSet:
    """Training images with one another's per-image labels, seeded: the deliberate fault of
    `faults.shuffle_aux_labels`, a label table joined to the images in another order."""
    order = np.random.default_rng((seed, 104729)).permutation(len(landmark_set))
    records = [replace(record, labels=landmark_set.records[other].labels)
               for record, other in zip(landmark_set.records, order)]
    return LandmarkSet(landmark_set.names, records, landmark_set.flip_pairs, landmark_set.source)


def jittered(landmark_set: LandmarkSet, share_of_width: float, seed: int) -> LandmarkSet:
    """Training annotations with seeded Gaussian noise: the deliberate fault of
    `faults.train_label_noise`, standing for careless or inconsistent annotators."""
    rng = np.random.default_rng((seed, 7919))
    records = []
    for record in landmark_set.records:
        width = record.image.shape[1] if record.image is not None else np.nanmax(record.landmarks[:, 0])
        noise = rng.normal(0.0, share_of_width * width, record.landmarks.shape).astype(np.float32)
        records.append(replace(record, landmarks=record.landmarks + noise))
    return LandmarkSet(landmark_set.names, records, landmark_set.flip_pairs, landmark_set.source)
