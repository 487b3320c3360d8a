"""One Recorder driven by another framework's events: what the MMEngine hook and the Lightning callback share.

Conventions, the same as ceph-doctor's own trainer so that every signal reads
an adapter's run like a native one: a step is an optimizer step counted from
1, an epoch is counted from 1, and a validation is filed under the epoch it
followed. A framework that validates more often than once an epoch (iteration
based loops, Lightning's `val_check_interval`) gets its validations numbered
one after another instead, because each validation is one predictions file
and two under one epoch would overwrite each other.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from ceph_doctor.doctor import STOP_ON
from ceph_doctor.integrations.collect import PredictionCollector, to_float
from ceph_doctor.live_doctor import RunDoctor, rich_stderr_say
from ceph_doctor.store.layout import MANIFEST, PREDICTIONS
from ceph_doctor.train.gradients import UpdateRatio, gradient_norms
from ceph_doctor.train.recorder import Recorder

_VAL_PREFIXES = ("validation/", "validation_", "valid/", "valid_", "val/", "val_", "val-", "val.")


def _val_prefix(name: str) -> str:
    return next((prefix for prefix in _VAL_PREFIXES if name.lower().startswith(prefix) and len(name) > len(prefix)), "")


def is_val_name(name: str) -> bool:
    """Whether a framework's metric name says it is a validation metric (`val_loss`, `valid/acc`…)."""
    return bool(_val_prefix(name))


def val_tag(name: str) -> str:
    """A framework's validation metric name as a run-store tag: `val_loss`, `val/NME`, `NME` → `val/loss`…"""
    return "val/" + name[len(_val_prefix(name)):]


def jsonable(value: Any, depth: int = 0) -> Any:
    """A framework config as plain JSON: configs hold classes, modules and functions a manifest cannot."""
    if isinstance(value, Mapping) and depth < 12:
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)) and depth < 12:
        return [jsonable(item, depth + 1) for item in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    number = to_float(value) if hasattr(value, "item") else None
    if number is not None:
        return number if math.isfinite(number) else None
    text = getattr(value, "__qualname__", None) or repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def canonical(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Canonical config keys (DESIGN.md) as far as a framework tells them: unknown ones left out, not guessed."""
    kept = {name: {key: value for key, value in keys.items() if value is not None} for name, keys in sections.items()}
    return {name: keys for name, keys in kept.items() if keys}


def available_run_dir(preferred: Path, resuming: bool) -> Path:
    """`preferred`, unless a fresh run would land on an old one: then a timestamped sibling."""
    if resuming or not (preferred / MANIFEST).exists():
        return preferred
    sibling = preferred.with_name(f"{preferred.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    warnings.warn(f"ceph-doctor: {preferred} holds an earlier run; recording this one in {sibling}", stacklevel=3)
    return sibling


def validation_epoch_at(run_dir: Path, step: int, epoch: int) -> int:
    """The epoch the last validation at or before `step` is filed under; `epoch` if no predictions tell.

    Resuming drops predictions filed after the checkpoint's epoch. Validations numbered one after
    another are not training epochs, so the number to keep up to is read off the rows themselves.
    """
    folder = run_dir / PREDICTIONS
    if not any(folder.glob("*.parquet")):
        return epoch
    try:
        filed = pd.read_parquet(folder, columns=["epoch", "step"])
    except (OSError, ValueError):
        return epoch
    kept = filed.loc[filed["step"] <= step, "epoch"]
    return int(kept.max()) if len(kept) else 0


class RecorderSession:
    """A Recorder and what has to be remembered between a framework's events to feed it.

    The adapters translate events into these calls: `start`, `before_optimizer_step` and
    `step_end` each step, `predictions.add…` while validating, `validation_end`, `close`.
    """

    def __init__(
        self,
        every_n_steps: int = 10,
        tensorboard: bool = True,
        landmarks: Sequence[str] | None = None,
        spacing_mm: float | None = None,
        decode: str = "heatmap",
        doctor: str | None = "never",
    ):
        """`doctor`: the live doctor's `stop_on` (error | warning | never), or None for no live doctor."""
        if doctor is not None and doctor not in STOP_ON:
            raise ValueError(f"doctor: one of {', '.join(STOP_ON)} or None, not {doctor!r}")
        self.doctor_stop_on = doctor
        self.doctor: RunDoctor | None = None
        self.every_n_steps = max(1, int(every_n_steps))
        self.tensorboard = tensorboard
        self.landmarks = list(landmarks) if landmarks else None
        self.spacing_mm = spacing_mm
        self.decode = decode
        self.recorder: Recorder | None = None
        self.predictions = PredictionCollector()
        self._names_from_predictions = False
        self._update_ratio = UpdateRatio()
        self._gradients: dict[str, float] = {}
        self._lr: float | None = None
        self._last_step = 0
        self._last_validation_epoch = 0

    @property
    def active(self) -> bool:
        return self.recorder is not None and self.recorder.active

    def start(
        self,
        run_dir: str | Path,
        resume_after: tuple[int, int] | None,
        config: Mapping[str, Any],
        framework: Mapping[str, Any],
        **manifest: Any,
    ) -> None:
        from ceph_doctor import __version__

        run_dir = available_run_dir(Path(run_dir), resume_after is not None)
        if resume_after is not None:
            resume_after = (resume_after[0], validation_epoch_at(run_dir, *resume_after))
        self.recorder = Recorder(run_dir, self.every_n_steps, self.tensorboard)
        self.recorder.start(
            config=jsonable(config),
            landmarks=self.landmarks or [],
            resume_after=resume_after,
            tool={"name": "ceph-doctor", "version": __version__, "torch": torch.__version__},
            framework=jsonable(framework),
            pixel_spacing_mm=self.spacing_mm,
            **jsonable(manifest),
        )
        if resume_after is not None:
            self._last_step, self._last_validation_epoch = resume_after
        if self.doctor_stop_on is not None and self.active:
            self.doctor = RunDoctor(run_dir, self.doctor_stop_on, rich_stderr_say(), resume_after is not None)

    @property
    def run_dir(self) -> Path | None:
        return None if self.recorder is None else self.recorder.run_dir

    def records_step(self, step: int) -> bool:
        return self.active and step > 0 and step % self.every_n_steps == 0

    def before_optimizer_step(self, step: int, model: nn.Module, lr: float | None = None) -> None:
        """Gradients are final here: measure them, and snapshot the weights the step will change."""
        if self.records_step(step):
            self._gradients = gradient_norms(model)
            self._update_ratio.before(model)
            self._lr = lr

    def step_end(
        self,
        step: int,
        epoch: int,
        loss: Any,
        model: nn.Module,
        lr: float | None = None,
        loss_parts: Mapping[str, Any] | None = None,
        extra: Mapping[str, float] | None = None,
    ) -> None:
        # Once per optimizer step, though a framework may call once per accumulated micro-batch.
        if not self.records_step(step) or step == self._last_step:
            return
        self._last_step = step
        loss = to_float(loss)
        if loss is None:
            return
        # `loss_kpt` is recorded as `train/loss/kpt`, not `train/loss/loss_kpt`.
        parts = {name.removeprefix("loss_"): to_float(value) for name, value in (loss_parts or {}).items()}
        parts = {name: value for name, value in parts.items() if value is not None}
        values = {**self._gradients, **self._update_ratio.after(model), **(extra or {})}
        self.recorder.log_step(step, epoch, loss, self._lr if self._lr is not None else lr, parts, model, values)
        self._gradients, self._lr = {}, None

    def validation_end(self, epoch: int, step: int, metrics: Mapping[str, Any] | None = None) -> str | None:
        """Scalars and the collected predictions of one validation, committed together, then judged by the live
        doctor: the reason to stop, when a finding asks for it (the adapter stops its framework's loop)."""
        if not self.active:
            self.predictions.clear()
            return None
        epoch = max(epoch, self._last_validation_epoch + 1)
        self._last_validation_epoch = epoch
        scalars = {val_tag(name): to_float(value) for name, value in (metrics or {}).items()}
        self.recorder.log_scalars(step, epoch, {tag: value for tag, value in scalars.items() if value is not None})
        names = self.predictions.publish(self.recorder, epoch, step, self.landmarks, self.decode)
        if names and not self.landmarks:
            self.landmarks, self._names_from_predictions = names, True
        self.recorder.commit_validation(epoch, self.decode)
        return self.doctor.after_validation(epoch) if self.doctor is not None else None

    def close(self, status: str) -> None:
        if not self.active:
            return
        stopped_by = self.doctor.stopped_by if self.doctor is not None else None
        if stopped_by is not None and status == "completed":  # the framework's loop ended because it was asked to
            status = "early_stopped"
        # What only the predictions told: the manifest gets it now, since the Recorder has no other way in.
        learned = {"landmarks": self.landmarks} if self._names_from_predictions else {}
        if self.spacing_mm is None and self.predictions.spacing_mm is not None:
            learned["pixel_spacing_mm"] = self.predictions.spacing_mm
        self.recorder.close(status, **learned, **({"stop_reason": stopped_by} if stopped_by else {}))
        if self.doctor is not None:
            self.doctor.at_end(status)
