"""`CephDoctorCallback`: the Recorder inside Lightning training.

    trainer = lightning.Trainer(callbacks=[CephDoctorCallback(landmarks=names)], ...)

It writes a ceph-doctor run to `<default_root_dir>/ceph-doctor` (or `run_dir`):

- every `every_n_steps` optimizer steps: `train/loss` (the loss `training_step` returned; other
  entries of its dict with "loss" in their name as loss parts), `optim/lr` of the first optimizer,
  gradient norms per top-level submodule of the LightningModule (before Lightning clips them) and
  update ratios;
- at the end of each validation: every `trainer.callback_metrics` entry named like a validation
  metric (`val_loss`, `val/mre`, `valid_acc`…) as `val/<name>`, and per-image predictions.

The predictions contract: `validation_step` returns a dict with

    "pred", "true"   (B, K, 2) landmark x, y in original-image pixels (tensors or arrays; NaN in
                     "true" = not annotated)
    "image_ids"      optional, B names; stable ones let a diagnosis follow an image across epochs
    "spacing_mm"     optional, mm per pixel: a number or (B,)
    "peak"           optional, (B, K) heatmap maximum
    "split"          optional, "val" or "train"

Outputs of validation dataloader 0 are split "val"; give a second validation dataloader over a
few fixed training images and `train_subset_dataloader_idx=1`, and they are split "train", which
is what shows overfitting per landmark. A step that returns no such dict only adds no rows.

After each validation the live doctor judges the run so far and prints what it finds once (on stderr, and
into the run's doctor.jsonl); `doctor="error"` (or "warning") also ends the fit through `trainer.should_stop`
when a finding that severe is told, the reason in the run's manifest; `doctor=None` switches it off.

Scalars and predictions are written in `on_validation_end`, not `on_validation_epoch_end`: a
module's own `on_validation_epoch_end` runs after the callbacks', and what it logs would be
missed. Only the global-zero process writes; under DDP its rows are its own shard of the
validation set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import lightning
from lightning.pytorch.callbacks import Callback

from ceph_doctor.frameworks.lightning import from_trainer
from ceph_doctor.integrations.collect import to_float
from ceph_doctor.integrations.session import RecorderSession, canonical, is_val_name

_EPOCH_SUFFIX = "_epoch"  # Lightning's name for the epoch value of a metric logged per step and per epoch


class CephDoctorCallback(Callback):
    def __init__(
        self,
        run_dir: str | None = None,
        every_n_steps: int = 10,
        tensorboard: bool = True,
        landmarks: Sequence[str] | None = None,
        spacing_mm: float | None = None,
        decode: str = "heatmap",
        train_subset_dataloader_idx: int | None = None,
        doctor: str | None = "never",
    ):
        self.run_dir = run_dir
        self.spacing_mm = spacing_mm
        self.train_subset_dataloader_idx = train_subset_dataloader_idx
        self.session = RecorderSession(every_n_steps, tensorboard, landmarks, spacing_mm, decode, doctor)

    # ------------------------------------------------------------- training
    def on_train_start(self, trainer, pl_module) -> None:
        # Not on_fit_start: only here has a resumed trainer its global_step back.
        if not trainer.is_global_zero:
            return
        resuming = trainer.global_step > 0
        self.session.start(
            self.run_dir or Path(trainer.default_root_dir) / "ceph-doctor",
            (trainer.global_step, trainer.current_epoch) if resuming else None,
            config=canonical_config(trainer),
            framework={"name": "lightning", "version": lightning.__version__, "hparams": dict(pl_module.hparams)},
            steps_per_epoch=trainer.num_training_batches // max(1, trainer.accumulate_grad_batches),
        )

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        lr = to_float(optimizer.param_groups[0].get("lr")) if optimizer.param_groups else None
        self.session.before_optimizer_step(trainer.global_step + 1, pl_module, lr)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.session.records_step(trainer.global_step):
            return
        loss, parts = outputs, {}
        if isinstance(outputs, Mapping):
            loss = outputs.get("loss")
            parts = {name: value for name, value in outputs.items() if name != "loss" and "loss" in name}
        self.session.step_end(
            trainer.global_step, trainer.current_epoch + 1, loss, pl_module, lr=_first_lr(trainer), loss_parts=parts
        )

    def on_train_end(self, trainer, pl_module) -> None:
        self.session.close("completed")

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.session.close("interrupted" if isinstance(exception, KeyboardInterrupt) else "failed")

    # ----------------------------------------------------------- validation
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.session.predictions.clear()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking or not self.session.active or not isinstance(outputs, Mapping):
            return
        if "pred" not in outputs or "true" not in outputs:
            return
        split = outputs.get("split") or self._split_of(dataloader_idx)
        if split is None:
            return
        spacing = outputs.get("spacing_mm")
        self.session.predictions.add_batch(
            split, outputs["pred"], outputs["true"], outputs.get("image_ids"),
            self.spacing_mm if spacing is None else spacing, outputs.get("peak"),
        )

    def _split_of(self, dataloader_idx: int) -> str | None:
        if dataloader_idx == self.train_subset_dataloader_idx:
            return "train"
        return "val" if dataloader_idx == 0 else None

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            self.session.predictions.clear()
            return
        metrics = {name: value for name, value in trainer.callback_metrics.items() if _is_validation_metric(name)}
        metrics = {name.removesuffix(_EPOCH_SUFFIX): value for name, value in metrics.items()}
        if self.session.validation_end(trainer.current_epoch + 1, trainer.global_step, metrics) is not None:
            trainer.should_stop = True  # Lightning's own way to end fit, as its EarlyStopping does


def canonical_config(trainer) -> dict[str, Any]:
    """Canonical keys read off the trainer, so a diagnosis's fix names a setting this run has."""
    optimizer = trainer.optimizers[0].defaults if trainer.optimizers else {}
    loader = trainer.train_dataloader
    config = {
        "data": {"batch_size": getattr(loader, "batch_size", None)},
        "optimizer": {"name": type(trainer.optimizers[0]).__name__.lower() if trainer.optimizers else None,
                      "lr": optimizer.get("lr"), "weight_decay": optimizer.get("weight_decay")},
        **from_trainer(trainer),  # the Trainer's own arguments, through the framework's one table
    }
    return canonical(config)


def _is_validation_metric(name: str) -> bool:
    # A `_step` name is the per-batch twin of an `_epoch` value: the last batch's, not the validation's.
    return is_val_name(name) and not name.endswith("_step")


def _first_lr(trainer) -> float | None:
    optimizers = trainer.optimizers
    return to_float(optimizers[0].param_groups[0].get("lr")) if optimizers and optimizers[0].param_groups else None
