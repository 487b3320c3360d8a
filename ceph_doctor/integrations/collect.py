"""Per-image landmark predictions of one validation, gathered batch by batch from another framework.

Frameworks hand predictions over one batch (or one data sample) at a time; the
Recorder wants each split whole, as (N, K, 2) arrays. A `PredictionCollector`
holds them until the validation ends, then hands every split, with its
landmark metrics as scalars, to the Recorder.

Whatever it cannot use it skips instead of raising: a diagnostics adapter must
never be the reason a training run dies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceph_doctor.metrics import landmark_metrics


def to_numpy(value: Any) -> np.ndarray | None:
    """A tensor, array or nested list as a float32 array; None when it is none of those."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().float().cpu().numpy()
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None


def to_float(value: Any) -> float | None:
    """A Python number, a one-element tensor or array as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    array = to_numpy(value)
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()))


def generic_names(count: int) -> list[str]:
    return [f"landmark_{index:02d}" for index in range(count)]


@dataclass
class _Split:
    image_ids: list[str] = field(default_factory=list)
    pred: list[np.ndarray] = field(default_factory=list)
    true: list[np.ndarray] = field(default_factory=list)
    spacing_mm: list[float] = field(default_factory=list)
    peak: list[np.ndarray | None] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


class PredictionCollector:
    def __init__(self) -> None:
        self._splits: dict[str, _Split] = {}
        self._warned: set[str] = set()
        self.spacing_mm: float | None = None  # the median pixel spacing of the last validation, when known

    def __len__(self) -> int:
        return sum(len(split.image_ids) for split in self._splits.values())

    def clear(self) -> None:
        self._splits.clear()

    def add(
        self,
        split: str,
        pred: Any,
        true: Any,
        image_id: str | None = None,
        spacing_mm: float | None = None,
        peak: Any = None,
    ) -> bool:
        """One image: pred/true (K, 2) in original-image px. False (and one warning) when unusable."""
        pred, true, peak = to_numpy(pred), to_numpy(true), to_numpy(peak)
        if pred is None or true is None or pred.ndim != 2 or pred.shape[-1] != 2 or pred.shape != true.shape:
            self._warn_once("shape", "predictions skipped: pred and true must both be (K, 2) per image")
            return False
        rows = self._splits.setdefault(split, _Split())
        if rows.pred and pred.shape != rows.pred[0].shape:
            self._warn_once("landmarks", f"predictions skipped: {split} images differ in their number of landmarks")
            return False
        image_id = f"{split}-{len(rows.image_ids):05d}" if image_id is None else str(image_id)
        if image_id in rows.seen:  # e.g. a distributed sampler pads the last batch with repeats
            return False
        rows.seen.add(image_id)
        rows.image_ids.append(image_id)
        rows.pred.append(pred)
        rows.true.append(true)
        spacing = to_float(spacing_mm)
        rows.spacing_mm.append(math.nan if spacing is None else spacing)
        rows.peak.append(peak if peak is not None and peak.shape == pred.shape[:1] else None)
        return True

    def add_batch(
        self,
        split: str,
        pred: Any,
        true: Any,
        image_ids: Sequence[Any] | None = None,
        spacing_mm: Any = None,
        peak: Any = None,
    ) -> int:
        """A batch: pred/true (B, K, 2); spacing a number or (B,); peak (B, K). Returns images taken."""
        pred, true = to_numpy(pred), to_numpy(true)
        if pred is None or true is None or pred.ndim != 3 or pred.shape != true.shape:
            self._warn_once("batch", "predictions skipped: pred and true must both be (B, K, 2) per batch")
            return 0
        count = len(pred)
        spacing = to_numpy(spacing_mm)
        if spacing is not None:
            spacing = np.broadcast_to(spacing.reshape(-1), (count,)) if spacing.size in (1, count) else None
        peak = to_numpy(peak)
        ids = list(image_ids) if image_ids is not None and len(image_ids) == count else [None] * count
        taken = 0
        for index in range(count):
            taken += self.add(
                split, pred[index], true[index], ids[index],
                None if spacing is None else spacing[index],
                None if peak is None or len(peak) != count else peak[index],
            )
        return taken

    def publish(self, recorder, epoch: int, step: int, names: Sequence[str] | None, decode: str) -> list[str]:
        """Hand every split, with its metrics (`val/mre_mm`, `train/mre_mm`…), to the Recorder; the names used.

        The caller commits the validation, after adding any scalars of its own.
        """
        used: list[str] = list(names or ())
        for split, rows in self._splits.items():
            pred, true = np.stack(rows.pred), np.stack(rows.true)
            spacing = np.asarray(rows.spacing_mm, np.float32)
            if len(used) != pred.shape[1]:
                used = generic_names(pred.shape[1])
            peak = None if any(p is None for p in rows.peak) else np.stack(rows.peak)
            known = None if np.isnan(spacing).any() else spacing
            if known is not None and split == "val":
                self.spacing_mm = float(np.median(known))
            try:
                metrics = landmark_metrics(pred, true, known, names=used).overall
            except ValueError as error:  # rows are still worth keeping without their summary
                self._warn_once("metrics", f"no landmark metrics for {split}: {error}")
                metrics = {}
            recorder.log_validation(
                epoch, step, rows.image_ids, pred, true, spacing, split=split, decode=decode,
                peak=peak, landmarks=used, scalars={f"{split}/{name}": value for name, value in metrics.items()},
            )
        self.clear()
        return used

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"ceph-doctor: {message}", RuntimeWarning, stacklevel=3)
