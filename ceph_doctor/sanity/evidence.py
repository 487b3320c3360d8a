"""What an overfit run recorded, the verdict of a stage, and the helpers the measurements share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceph_doctor.engine.diagnosis import Fix


@dataclass
class Evidence:
    """What one overfit run recorded. Arrays are (B, K, 2) x, y unless said otherwise."""

    losses: np.ndarray  # training loss at each step, before that step's update
    eval_loss: float  # loss of the inference-mode output after training
    trainable_fraction: float  # of parameter elements with requires_grad
    changed_fraction: float  # of parameter elements that moved during training
    pred_input: np.ndarray  # decode(output), input px
    target_input: np.ndarray  # decode_targets(targets), input px
    pred_original: np.ndarray  # to_original(pred_input)
    truth: np.ndarray  # original px, NaN = not annotated
    metric_value: float  # the pipeline's metric on (pred_original, truth)
    probe_pred: np.ndarray  # (P, K, 2) predictions at known errors, for the metric
    probe_truth: np.ndarray  # (P, K, 2)
    probe_metric: float  # the pipeline's metric on the probe
    stride: float = 1.0  # input px per heatmap (output) px
    input_size: tuple[int, int] | None = None  # width, height
    original_size: tuple[int, int] | None = None
    names: tuple[str, ...] | None = None
    pred_heatmaps: np.ndarray | None = None  # (B, K, h, w)
    target_heatmaps: np.ndarray | None = None
    autoregressive: np.ndarray | None = None  # input px
    teacher_forced: np.ndarray | None = None

    @property
    def annotated(self) -> np.ndarray:
        """(B, K) landmarks with a truth: the others are left out of every stage."""
        return np.isfinite(self.truth).all(axis=-1)


@dataclass
class StageResult:
    name: str
    passed: bool | None  # None: skipped
    evidence: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    likely_cause: str | None = None
    fix: str | None = None  # in words: the advice, else the config patches
    diagnosis: str | None = None  # the related `ceph-doctor rules explain` id
    fixes: list[Fix] = field(default_factory=list)  # canonical config patches: `--emit-config` applies them
    advice: str | None = None  # what to change in a pipeline of your own (its code, not the config)
    after_failure: bool = False  # an earlier stage failed: this verdict may be its consequence

    @property
    def status(self) -> str:
        return "skipped" if self.passed is None else "pass" if self.passed else "fail"


def point_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        d = np.hypot(*np.moveaxis(np.asarray(a, np.float64) - np.asarray(b, np.float64), -1, 0))
    return np.where(np.isnan(d), np.inf, d)  # a lost prediction is a miss, never dropped


def fraction(success: np.ndarray, counted: np.ndarray) -> float:
    return float(success[counted].mean()) if counted.any() else 0.0


def nanmax(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.max()) if finite.size else np.nan


def worst_landmark(ev: Evidence, values: np.ndarray) -> str:
    """The landmark with the largest value, by name when known."""
    if np.isnan(values).all():
        return "-"
    k = int(np.unravel_index(np.nanargmax(values), values.shape)[-1])
    return ev.names[k] if ev.names else f"landmark {k}"


def argmax_yx(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(*maps.shape[:-2], -1).argmax(axis=-1)
    return np.stack(np.unravel_index(flat, maps.shape[-2:]), axis=-1)


def original_per_input(ev: Evidence) -> float:
    """Original px per input px along the coarser axis; 1 when the pipeline does not say."""
    if ev.input_size is None or ev.original_size is None:
        return 1.0
    return float(max(o / i for o, i in zip(ev.original_size, ev.input_size)))
