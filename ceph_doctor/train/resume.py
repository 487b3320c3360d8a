"""What `last.pth` holds beyond the weights, so `--resume` continues exactly where a run stopped.

The optimizer, scheduler and loss-scaler state, the averaged weights, the best-so-far and a stop
already requested. The epoch's data order and augmentation depend on (seed, epoch) alone, so they
need no state of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ceph_doctor.errors import UserInputError
from ceph_doctor.numbers import plural
from ceph_doctor.store.checkpoint import load_checkpoint
from ceph_doctor.train.best import BestSoFar


class CheckpointError(UserInputError):
    """A checkpoint that cannot continue this run."""


def mismatches(expected: dict, found: Any) -> list[str]:
    """How a checkpoint's weights differ from the model's: missing, unexpected and reshaped tensors, by name.

    Checked before loading, so the user reads one line rather than torch's list of every layer."""
    if not isinstance(found, dict):
        return [f"the weights are a {type(found).__name__}, not a state dict"]
    problems = [f"{name} missing" for name in expected if name not in found]
    problems += [f"{name} not in this model" for name in found if name not in expected]
    problems += [f"{name} is {tuple(getattr(found[name], 'shape', ()))}, this model's {tuple(tensor.shape)}"
                 for name, tensor in expected.items()
                 if name in found and tuple(getattr(found[name], "shape", ())) != tuple(tensor.shape)]
    return problems


@dataclass
class ResumeState:
    model: nn.Module
    optimizer: Any
    scheduler: Any
    scaler: Any
    ema: nn.Module | None
    best: BestSoFar

    def capture(self, stop_reason: str | None) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "best": vars(self.best).copy(),
            "stop_reason": stop_reason,
        }

    def restore(self, path: Path, device) -> tuple[int, int, str | None]:
        """Load `path`'s state in place; (epoch, step) it was written after, and the stop it had asked for."""
        payload = load_checkpoint(path, map_location=device)
        state = payload.get("train_state") if isinstance(payload, dict) else None
        if not isinstance(state, dict) or not all(key in state for key in ("model", "optimizer", "best")):
            raise CheckpointError(f"{path}: holds no training state to resume from (weights alone, or not a "
                                  "ceph-doctor checkpoint)")
        misfit = mismatches(self.model.state_dict(), state["model"])
        if misfit:
            raise CheckpointError(f"{path}: written by another model than this run's ({len(misfit)} mismatched "
                                  f"{plural(len(misfit), 'tensor')}: {'; '.join(misfit[:2])}"
                                  f"{'; …' if len(misfit) > 2 else ''}); "
                                  "the run's config and this checkpoint do not belong together")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        for key, value in state["best"].items():
            setattr(self.best, key, value)
        # Checkpoints written before stops had reasons hold a bare flag.
        stop_reason = state.get("stop_reason") or ("stopped early" if state.get("should_stop") else None)
        return payload["epoch"], payload["step"], stop_reason
