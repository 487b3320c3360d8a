"""The Recorder: writes everything the diagnoses need into a run directory.

It is a hook of ceph-doctor's trainer, and it has a plain API for any other
loop (see examples/plain_loop.py, the MMEngine hook and the Lightning callback):

    recorder = Recorder("runs/mine")
    recorder.start(config={...}, landmarks=names)
    ...  recorder.log_step(step=s, epoch=e, loss=loss, lr=lr, model=model)
    ...  recorder.log_validation(epoch=e, step=s, image_ids=ids, pred=p, true=t)
    recorder.close()

It never judges: it records, and the diagnosis engine reads.
"""

from __future__ import annotations

import contextlib

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ceph_doctor.store import RunWriter
from ceph_doctor.store.layout import TENSORBOARD
from ceph_doctor.store.predictions import predictions_frame
from ceph_doctor.train.gradients import UpdateRatio, gradient_norms, trainable_fraction
from ceph_doctor.train.hooks import Hook


def _is_rank_zero() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


class Recorder(Hook):
    def __init__(self, run_dir: str | Path, every_n_steps: int = 10, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.every_n_steps = every_n_steps
        self.tensorboard = tensorboard
        self.active = False
        self._update_ratio = UpdateRatio()
        self._images_since = 0
        self.world_size = 1  # processes whose batches one step covers (the trainer says at train start)
        self._time_since = time.perf_counter()
        self._data_seconds_since = 0.0
        self._paused = 0.0  # time since the last logged step spent outside steps (validating, checkpointing)
        self._last_step_end: float | None = None

    # ------------------------------------------------------------- plain API
    def start(
        self,
        config: dict | None = None,
        landmarks: Sequence[str] = (),
        resume_after: tuple[int, int] | None = None,
        **manifest: Any,
    ) -> None:
        """Open the run. `resume_after=(step, epoch)`: continue it, dropping what came after that checkpoint."""
        self.active = False
        if not _is_rank_zero():
            return
        self.writer = RunWriter(self.run_dir)
        # Raises (one line naming the other process) while another one writes this run: nothing written then.
        self.writer.start({"config": config or {}, "landmarks": list(landmarks), **manifest}, resume_after)
        self.active = True
        self.tb = None
        self._tb_epoch_step: int | None = None
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = resume_after[0] + 1 if resume_after is not None else None
            self.tb = SummaryWriter(str(self.run_dir / TENSORBOARD), purge_step=purge, flush_secs=10)

    def log_scalars(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.active:
            return
        wall_time = time.time()
        self.writer.add_scalars(step, epoch, values, wall_time)
        if self.tb is not None:
            if step != self._tb_epoch_step:  # the epoch beside the step, as Lightning logs it: TensorBoard has none
                self.tb.add_scalar("epoch", epoch, step, walltime=wall_time)
                self._tb_epoch_step = step
            for tag, value in values.items():
                self.tb.add_scalar(tag, value, step, walltime=wall_time)

    def log_step(
        self,
        step: int,
        epoch: int,
        loss: float | torch.Tensor,
        lr: float | None = None,
        loss_parts: dict[str, float | torch.Tensor] | None = None,
        model: nn.Module | None = None,
        extra: dict[str, float] | None = None,
    ) -> None:
        """Training scalars of one step; with `model`, also the trainable fraction."""
        values = {"train/loss": _number(loss)}
        for name, part in (loss_parts or {}).items():
            if len(loss_parts) > 1:
                values[f"train/loss/{name}"] = _number(part)
        if lr is not None:
            values["optim/lr"] = float(lr)
        if model is not None:
            values["params/trainable_frac"] = trainable_fraction(model)
        values.update(extra or {})
        self.log_scalars(step, epoch, values)

    def log_validation(
        self,
        epoch: int,
        step: int,
        image_ids: Sequence[str],
        pred: np.ndarray,
        true: np.ndarray,
        spacing_mm: np.ndarray | float | None = None,
        split: str = "val",
        decode: str = "heatmap",
        peak: np.ndarray | None = None,
        width: np.ndarray | None = None,
        landmarks: Sequence[str] | None = None,
        scalars: dict[str, float] | None = None,
    ) -> None:
        """One split of one validation: pred/true (N, K, 2) in original-image px.

        Call it for "val" and for a fixed training subset ("train") at each
        validation: their gap, in the landmark metric, is what overfitting is.
        """
        if not self.active:
            return
        names = list(landmarks) if landmarks is not None else self.writer.manifest.get("landmarks", [])
        frame = predictions_frame(epoch, step, split, decode, image_ids, names, pred, true, spacing_mm, peak, width)
        self.writer.write_predictions_part(frame, epoch, split, decode)
        if scalars:
            self.log_scalars(step, epoch, scalars)

    def log_sequence_validation(
        self,
        epoch: int,
        step: int,
        loss_tf: float,
        loss_ar: float,
        error_by_position: Sequence[float] = (),
        train_loss_tf: float | None = None,
    ) -> None:
        """For decoders that emit landmarks one after another: the same validation images
        scored teacher-forced (`val/loss_tf`) and autoregressively (`val/loss_ar`), and the
        autoregressive error at each position of the generated sequence
        (`val/error_by_position/NNN`, in mm where the pixel spacing is known, else original-image px). Their gap is exposure bias.
        Per-image rows go through `log_validation(decode="teacher_forced" | "autoregressive")`."""
        values = {"val/loss_tf": float(loss_tf), "val/loss_ar": float(loss_ar)}
        if train_loss_tf is not None:
            values["train/loss_tf"] = float(train_loss_tf)
        for position, error in enumerate(error_by_position):
            values[f"val/error_by_position/{position:03d}"] = float(error)
        self.log_scalars(step, epoch, values)

    def commit_validation(self, epoch: int, decode: str = "heatmap") -> None:
        """Publish the splits logged for this validation as one file, atomically."""
        if self.active:
            self.writer.commit_predictions(epoch, decode)
            self.writer.flush()
            if self.tb is not None:
                self.tb.flush()

    def close(self, status: str = "completed", **manifest: Any) -> None:
        if not self.active:
            return
        if self.tb is not None:
            self.tb.close()
        self.writer.close(status, **manifest)
        self.active = False

    # --------------------------------------------------------- trainer hooks
    def on_train_start(self, config, landmarks, resume_after, manifest, world_size=1, **_: Any) -> None:
        self.every_n_steps = config["train"]["log_every"]
        self.world_size = world_size
        self.start(config, landmarks, resume_after, **manifest)
        self._time_since = time.perf_counter()  # the first step's rate is not the data preparation's

    def on_before_optimizer_step(self, step, model, **_: Any) -> None:
        if self.active and step % self.every_n_steps == 0:
            self._grad_norms = gradient_norms(model)
            self._update_ratio.before(model)

    def on_step_end(self, step, epoch, loss, loss_parts, lr, batch_size, model, scalars=None, data_seconds=None,
                    **_: Any) -> None:
        self._images_since += batch_size * self.world_size
        self._data_seconds_since += data_seconds or 0.0
        now = self._last_step_end = time.perf_counter()
        if not self.active or step % self.every_n_steps:
            return
        # Tensors are read only here, on logged steps: reading one every step would wait for the device.
        extra = {**self._grad_norms, **self._update_ratio.after(model),
                 **{tag: _number(value) for tag, value in (scalars or {}).items()}}
        elapsed = max(now - self._time_since, 1e-9)
        extra["perf/images_per_s"] = self._images_since / elapsed
        if data_seconds is not None:  # validations in between are not steps: the share is of the steps' own time
            extra["perf/data_wait_share"] = min(self._data_seconds_since / max(elapsed - self._paused, 1e-9), 1.0)
        self._images_since, self._time_since, self._data_seconds_since, self._paused = 0, now, 0.0, 0.0
        self.log_step(step, epoch, loss, lr, loss_parts, model, extra)

    def on_epoch_start(self, **_: Any) -> None:
        if self._last_step_end is not None:  # since the last step: the validation, the checkpoint, other hooks
            self._paused += time.perf_counter() - self._last_step_end

    def on_validation_end(self, epoch, step, result, **_: Any) -> None:
        if not self.active:
            return
        splits = result.all_splits()  # a sequence decoder's autoregressive and teacher-forced results
        for split in splits:
            self.log_validation(
                epoch, step, split.image_ids, split.pred, split.true, split.spacing_mm, split.split,
                decode=split.decode, peak=split.peak, width=split.width, landmarks=result.names,
            )
        self.log_scalars(step, epoch, result.scalars())
        for decode in dict.fromkeys(split.decode for split in splits):
            self.commit_validation(epoch, decode)

    def on_train_end(self, status, stop_reason=None, **_: Any) -> None:
        try:
            self.close(status, **({"stop_reason": stop_reason} if stop_reason else {}))
        except OSError:
            if status != "failed":
                raise
            # The failure being raised (often this same full disk) is the one to tell; the run directory keeps
            # every validation completed before it, and its reader says the writer is gone.

    def on_exception(self, error, **_: Any) -> None:
        if self.active:
            with contextlib.suppress(OSError):  # best effort: the disk that failed may refuse this too
                self.writer.update_manifest(error=f"{type(error).__name__}: {error}")


def _number(value: float | torch.Tensor) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
