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

from ceph_doctor.store.checkpoint import load_checkpoint
from ceph_doctor.train.best import BestSoFar


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
        state = payload["train_state"]
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
