"""The built-in hooks that decide when a run stops and what it keeps: early stopping, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ceph_doctor.store.checkpoint import save_checkpoint
from ceph_doctor.train.hooks import Hook


class EarlyStopping(Hook):
    """Stop once the monitored metric has not improved for `patience` validations (None: never)."""

    def __init__(self, patience: int | None):
        self.patience = patience

    def on_validation_end(self, best, request_stop: Callable[[str], None], **_: Any) -> None:
        if self.patience is not None and best.stale >= self.patience:
            request_stop(f"{best.metric} not better than {best.value:.4g} (epoch {best.epoch}) "
                         f"for {best.stale} validations (train.early_stopping.patience={self.patience})")


class Checkpointing(Hook):
    """`best.pth` at each new best, `last.pth` (with the resume state) at every validation, and with
    `train.checkpoint_every_val` one `epoch_NNNN.pth` each. Only the main process writes.

    It runs after the other hooks: a checkpoint on disk promises its validation's records are too,
    and `last.pth` holds a stop early stopping has just requested.
    """

    def __init__(self, folder: Path, every_validation: bool):
        self.folder = Path(folder)
        self.every_validation = every_validation
        self.active = True

    def on_train_start(self, is_main: bool, **_: Any) -> None:
        self.active = is_main

    def on_validation_end(self, epoch: int, step: int, result, is_best: bool, evaluated_model, config: dict,
                          resume_state: Callable[[], dict], **_: Any) -> None:
        if not self.active:
            return
        payload = {
            "state_dict": evaluated_model.state_dict(),
            "config": config,
            "names": list(result.names),
            "metrics": result.scalars(),
            "epoch": epoch,
            "step": step,
        }
        if self.every_validation:
            save_checkpoint(self.folder / f"epoch_{epoch:04d}.pth", payload)
        if is_best:
            save_checkpoint(self.folder / "best.pth", payload)
        # last.pth is written last: resuming from it must find everything before it in place.
        save_checkpoint(self.folder / "last.pth", {**payload, "train_state": resume_state()})
