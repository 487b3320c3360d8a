"""Run a model over a split and measure it in the original images' pixels.

Predictions are decoded (from heatmaps, or a sequence decoder's points), mapped
back through the resize to original-image pixels, and only then compared with
the truth: the metric sees exactly what a user of the model would get. A
sequence decoder is measured twice on the same images: autoregressively (what
inference runs, the split's main result) and teacher-forced. With test-time
augmentation (`eval.tta`) the validation images are measured a second time
through its views, and with a refinement stage (`model.refine`) a second time
after it, each beside the plain result.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ceph_doctor.data.dataset import PreparedSet
from ceph_doctor.metrics import MetricReport, landmark_metrics
from ceph_doctor.models.auxiliary import auxiliary_output
from ceph_doctor.pipeline import Pipeline


@dataclass
class SplitResult:
    """One split at one validation: every image × landmark, and the metrics."""

    split: str  # "val", or "train" for the fixed training subset
    decode: str  # "heatmap" | "autoregressive" | "teacher_forced" | "tta" | "refined"
    image_ids: list[str]
    pred: np.ndarray  # (N, K, 2) original px
    true: np.ndarray  # (N, K, 2) original px, NaN = not annotated
    spacing_mm: np.ndarray  # (N,), NaN = unknown
    peak: np.ndarray | None  # (N, K) heatmap maximum (heatmap models)
    width: np.ndarray | None  # (N, K) heatmap peak width, heatmap px
    loss: float  # NaN for test-time augmentation and refinement (points made after the model's output)
    metrics: MetricReport
    aux: dict[str, float] = field(default_factory=dict)  # the auxiliary task's loss and accuracy or MAE


@dataclass
class ValidationResult:
    epoch: int
    step: int
    names: tuple[str, ...]
    splits: dict[str, SplitResult] = field(default_factory=dict)
    teacher_forced: dict[str, SplitResult] = field(default_factory=dict)  # sequence decoders
    tta: dict[str, SplitResult] = field(default_factory=dict)  # test-time augmentation (`eval.tta`)
    refined: dict[str, SplitResult] = field(default_factory=dict)  # after a refinement stage (`model.refine`)

    @property
    def val(self) -> SplitResult:
        return self.splits["val"]

    def all_splits(self) -> list[SplitResult]:
        return [*self.splits.values(), *self.teacher_forced.values(), *self.tta.values(), *self.refined.values()]

    def scalars(self) -> dict[str, float]:
        """`val/loss`, `val/mre_mm`, … and `train/eval_loss`, `train/mre_mm`, … for the subset.

        For a sequence decoder these are the autoregressive results; the teacher-forced ones
        carry a `_tf` suffix (`val/loss_tf`, `val/mre_mm_tf`), the autoregressive loss is also
        `val/loss_ar`, and `val/error_by_position/NNN` is the mean error at each step of the sequence.
        With test-time augmentation, its metrics carry a `_tta` suffix (`val/mre_mm_tta`); after a
        refinement stage, `_refined`.
        """
        values: dict[str, float] = {}
        for suffix, results in (("", self.splits), ("_tf", self.teacher_forced), ("_tta", self.tta),
                                ("_refined", self.refined)):
            for split, result in results.items():
                loss = f"{split}/loss" if split == "val" else f"{split}/eval_loss"
                if suffix in ("", "_tf"):
                    values[loss + suffix] = result.loss
                for name, value in result.metrics.overall.items():
                    values[f"{split}/{name}{suffix}"] = float(value)
                if suffix:  # the auxiliary task is judged on the plain pass alone
                    continue
                for name, value in result.aux.items():
                    # Its loss is a part of the split's loss (`val/loss/aux`), as the grammar of names reads it.
                    values[f"{loss}/aux" if name == "loss" else f"{split}/aux/{name}"] = value
        if self.teacher_forced and "val" in self.splits:
            values["val/loss_ar"] = self.val.loss
            for position, error in enumerate(error_by_position(self.val)):
                values[f"val/error_by_position/{position:03d}"] = error
        return values


def error_by_position(result: SplitResult) -> list[float]:
    """Mean error at each landmark (= each step of the sequence), in mm where spacing is known, else px."""
    errors = np.linalg.norm(result.pred - result.true, axis=-1)  # (N, K), NaN where not annotated
    if not np.isnan(result.spacing_mm).all():
        errors = errors * result.spacing_mm[:, None]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark no image annotates: NaN, said as such
        return [float(value) for value in np.nanmean(errors, axis=0)]


@torch.no_grad()
def evaluate_split(
    split: str,
    pipeline: Pipeline,
    loader: DataLoader,
    prepared: PreparedSet,
    device: torch.device,
    autocast=nullcontext,
    model: nn.Module | None = None,
    teacher_forced: bool = False,
    tta: bool = False,
    refine_from: SplitResult | None = None,
) -> SplitResult:
    """`model` (default: the pipeline's) over one split. An autoregressive decoder's result is the
    autoregressive one, as inference runs it; with `teacher_forced`, the teacher-forced one; with
    `tta`, the mean over the pipeline's test-time views; with `refine_from` (stage 1's result on this
    split), stage 2's answer on windows around stage 1's points."""
    model = model or pipeline.model
    was_training = model.training
    model.eval()
    count, num_landmarks = len(prepared), len(prepared.names)
    pred = np.empty((count, num_landmarks, 2), np.float32)
    peak = width = None
    refined = refine_from is not None
    loss_sum = math.nan if tta or refined else 0.0
    flip_pairs = pipeline.tta_flip_pairs(prepared.names, prepared.flip_pairs) if tta else ()
    aux_pred, aux_loss_sum = np.full(count, np.nan, np.float32), 0.0
    for batch in loader:
        images = batch["image"].to(device, non_blocking=True)
        targets = batch["targets"].to(device, non_blocking=True)
        weights = batch["weights"].to(device, non_blocking=True)
        index = batch["index"].numpy()
        if tta:
            pred[index] = pipeline.predict_tta(images, prepared.scales[index], flip_pairs, model=model, autocast=autocast)
            continue
        if refined:  # stage 1 has answered already: only stage 2 runs
            pred[index] = pipeline.predict_refined(batch["sharper"].to(device, non_blocking=True),
                                                   refine_from.pred[index], prepared.scales[index], model=model,
                                                   autocast=autocast)
            continue
        prediction = pipeline.predict(images, prepared.scales[index], model=model, autocast=autocast,
                                      teacher=targets if teacher_forced else None)
        loss_sum += pipeline.loss(prediction.output, targets, weights).item() * len(images)
        pred[index] = prediction.points
        if pipeline.aux is not None:
            aux_output = auxiliary_output(model)
            aux_pred[index] = pipeline.aux.predict(aux_output)
            aux_true = pipeline.aux_targets(batch["labels"], prepared.label_names)
            aux_loss_sum += pipeline.aux.loss(aux_output, aux_true.to(aux_output.device)).item() * len(images)
        if prediction.peak is not None:
            if peak is None:
                peak, width = np.empty((count, num_landmarks), np.float32), np.empty((count, num_landmarks), np.float32)
            peak[index], width[index] = prediction.peak, prediction.width
    model.train(was_training)
    return SplitResult(
        split=split,
        decode="tta" if tta else "refined" if refined else "teacher_forced" if teacher_forced
        else "autoregressive" if pipeline.autoregressive else "heatmap",
        image_ids=list(prepared.image_ids),
        pred=pred,
        true=prepared.landmarks,
        spacing_mm=prepared.spacing_mm,
        peak=peak,
        width=width,
        loss=loss_sum / max(1, count),
        metrics=measure(pred, prepared),
        aux=_aux_metrics(pipeline, prepared, aux_pred, aux_loss_sum)
        if pipeline.aux is not None and not (tta or refined) else {},
    )


def _aux_metrics(pipeline: Pipeline, prepared: PreparedSet, pred: np.ndarray, loss_sum: float) -> dict[str, float]:
    true = prepared.labels[:, prepared.label_names.index(pipeline.aux.label)]
    return {"loss": loss_sum / max(1, len(prepared)), **pipeline.aux.metrics(pred, true)}


def measure(pred: np.ndarray, prepared: PreparedSet) -> MetricReport:
    """Metrics of predictions (original px) against a split's truth; in mm where spacing is known."""
    spacing = prepared.spacing_mm
    return landmark_metrics(pred, prepared.landmarks, None if np.isnan(spacing).all() else spacing, names=prepared.names)
