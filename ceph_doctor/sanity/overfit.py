"""Train a pipeline on one batch until it is perfect, then follow its predictions through inference.

"The first thing an experienced engineer does with a new pipeline is to train
it on one image until it is perfect. If it cannot get there, something in the
pipeline is broken, and the stage that fails says where." This module does the
training and records the evidence; `stages.py` judges it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ceph_doctor.sanity.pipeline import CheckablePipeline
from ceph_doctor.sanity.evidence import Evidence, StageResult
from ceph_doctor.sanity.measure import PCK_ALPHA
from ceph_doctor.sanity.stages import run_stages

DEFAULT_STEPS = 300  # the default pipeline settles by ~150 steps; 300 take ~5 s of one CPU core
DEFAULT_LR = 1e-3
PROBE_ROWS = 16  # copies of the truth in the metric probe: 16 x K points resolve the metric's box to ~2/(16 K)


@dataclass
class SanityReport:
    stages: list[StageResult]
    evidence: Evidence
    steps: int
    seconds: float

    @property
    def passed(self) -> bool:
        return all(stage.passed is not False for stage in self.stages)

    @property
    def first_failure(self) -> StageResult | None:
        return next((stage for stage in self.stages if stage.passed is False), None)

    def verdict(self) -> str:
        failure = self.first_failure
        if failure is None:
            return f"passed: the pipeline memorises one image in {self.steps} steps and measures it correctly"
        index = self.stages.index(failure) + 1
        return f"fails at stage {index} ({failure.name}): {failure.likely_cause}. Fix: {failure.fix}"


def overfit_check(
    pipeline: CheckablePipeline,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    on_step: Callable[[int, float], None] | None = None,
) -> SanityReport:
    """Train `pipeline.model` on `pipeline.batch()` for `steps` Adam steps, then run every stage.

    The lr decays along a cosine to zero: the last steps at a small lr let the
    peaks settle, so the sub-pixel stages measure the fit and not the lr's jitter.
    `pipeline` is anything with the `CheckablePipeline` members (see sanity/pipeline.py)::

        report = overfit_check(MyPipeline(model, loader), steps=300, lr=1e-3)
        if not report.passed:
            print(report.verdict())  # "fails at stage 4 (...): x and y swapped in decode(). Fix: ..."
    """
    if steps < 10:
        raise ValueError(f"steps must be at least 10 to see the loss fall, got {steps}")
    started = time.perf_counter()
    model = pipeline.model
    inputs, targets = pipeline.batch()
    parameters = list(model.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    before = [p.detach().clone() for p in parameters]
    optimizer = torch.optim.Adam(trainable, lr=lr) if trainable else None
    schedule = (
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
        if optimizer
        else None
    )

    train_output = getattr(pipeline, "train_output", lambda inputs, targets, progress: model(inputs))
    model.train()
    losses = []
    for step in range(steps):
        with torch.set_grad_enabled(bool(trainable)):
            loss = pipeline.loss(train_output(inputs, targets, step / steps), targets)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
        if not math.isfinite(losses[-1]):
            break  # diverged: more steps add nothing but NaN
        if optimizer is not None and loss.requires_grad:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()

    evidence = record_evidence(pipeline, inputs, targets, np.asarray(losses), parameters, before)
    return SanityReport(run_stages(evidence), evidence, len(losses), time.perf_counter() - started)


@torch.no_grad()
def record_evidence(pipeline: CheckablePipeline, inputs: Any, targets: Any, losses: np.ndarray,
                    parameters: list[torch.Tensor], before: list[torch.Tensor]) -> Evidence:
    """Run the inference path once in eval mode and keep what every stage needs."""
    model = pipeline.model
    model.eval()
    output = getattr(pipeline, "judged_output", lambda inputs, targets: model(inputs))(inputs, targets)
    total = sum(p.numel() for p in parameters) or 1
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(parameters, before))
    pred_input = as_points(pipeline.decode(output))
    decode_targets = getattr(pipeline, "decode_targets", pipeline.decode)
    truth = as_points(pipeline.truth)
    pred_original = as_points(pipeline.to_original(pred_input))
    probe_pred, probe_truth = probe_predictions(truth)

    heatmaps = getattr(pipeline, "heatmaps", None)
    pred_maps, target_maps = heatmaps(output, targets) if heatmaps is not None else (None, None)
    autoregressive = getattr(pipeline, "decode_autoregressive", None)
    teacher_forced = getattr(pipeline, "decode_teacher_forced", None)
    sequence = autoregressive is not None and teacher_forced is not None
    return Evidence(
        losses=losses,
        eval_loss=float(pipeline.loss(output, targets)),
        trainable_fraction=sum(p.numel() for p in parameters if p.requires_grad) / total,
        changed_fraction=changed / total,
        pred_input=pred_input,
        target_input=as_points(decode_targets(targets)),
        pred_original=pred_original,
        truth=truth,
        metric_value=float(pipeline.metric(pred_original, truth)),
        probe_pred=probe_pred,
        probe_truth=probe_truth,
        probe_metric=float(pipeline.metric(probe_pred, probe_truth)),
        stride=float(getattr(pipeline, "stride", 1) or 1),
        input_size=getattr(pipeline, "input_size", None),
        original_size=getattr(pipeline, "original_size", None),
        names=tuple(getattr(pipeline, "names", None) or ()) or None,
        pred_heatmaps=None if pred_maps is None else _numpy(pred_maps),
        target_heatmaps=None if target_maps is None else _numpy(target_maps),
        autoregressive=as_points(autoregressive(inputs)) if sequence else None,
        teacher_forced=as_points(teacher_forced(inputs, targets)) if sequence else None,
    )


def probe_predictions(truth: np.ndarray, rows: int = PROBE_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Predictions at known errors around the PCK threshold, on `rows` copies of the first image's truth.

    Errors run from 0.06 to 1.96 times the documented threshold (alpha x the
    landmark box's longer side), one distinct error per point, never exactly at
    the threshold, in directions spread round the circle: a metric normalised
    by another box counts a different number of them.
    """
    first = truth[:1]
    probe_truth = np.repeat(first, rows, axis=0)
    visible = np.isfinite(first).all(axis=-1)[0]
    sides = np.nanmax(first[0][visible], axis=0) - np.nanmin(first[0][visible], axis=0)
    threshold = PCK_ALPHA * float(sides.max())
    count = rows * first.shape[1]
    order = np.random.default_rng(0).permutation(count)  # every landmark gets errors on both sides
    factors = (2.0 * (order + 0.3) / count).reshape(rows, -1)  # (i + 0.3): no factor is exactly 1
    angles = np.arange(count).reshape(rows, -1) * 2.399963  # the golden angle
    offsets = np.stack((np.cos(angles), np.sin(angles)), axis=-1) * (factors * threshold)[..., None]
    return probe_truth + offsets, probe_truth


def as_points(points: Any) -> np.ndarray:
    """(B, K, 2) float64 numpy from a tensor, array or nested list."""
    array = _numpy(points).astype(np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[-1] != 2:
        raise ValueError(f"expected (B, K, 2) points, got shape {array.shape}")
    return array


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value)
