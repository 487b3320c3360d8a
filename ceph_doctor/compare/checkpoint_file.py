"""One checkpoint file as compare reads it: its weights, and for ceph-doctor checkpoints how to rebuild it.

Other tools' files are read too: a bare state dict, or one under a key (`state_dict`, `model`, …), with the
prefix DistributedDataParallel or torch.compile puts on every name removed. Every file is loaded with
weights only: a file that would run code is refused with one line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ceph_doctor.errors import UserInputError
from ceph_doctor.store.checkpoint import is_ceph_doctor_checkpoint, load_checkpoint

# Where other tools keep the weights inside a checkpoint dict, most specific first.
STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "ema", "net", "weights")
# Keys of a checkpoint that are never metric-like scalars worth showing.
NOT_METRICS = {"config", "train_state", "optimizer", "scheduler", "names", "format", "version", "lr_scheduler"}
# Wrappers that prefix every parameter name: DistributedDataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class Checkpoint:
    """What compare needs from one file: its weights and, for ceph-doctor checkpoints, how to rebuild it."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    kind: str  # "ceph-doctor" | "state_dict" (a bare one) | "wrapped" (weights under a key)
    config: dict | None = None
    names: list[str] | None = None
    epoch: int | None = None
    scalars: dict[str, float] = field(default_factory=dict)  # metric-like values stored inside


def read_checkpoint(path: Path) -> Checkpoint:
    with warnings.catch_warnings():
        # torch warns about a pickle protocol it does not expect before refusing the file:
        # the refusal is the one line the user needs.
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        payload = load_checkpoint(path)  # weights_only: a file that would run code is refused here
    path = Path(path)
    if is_ceph_doctor_checkpoint(payload):
        state, kind = payload["state_dict"], "ceph-doctor"
    else:
        state, kind = _find_state_dict(payload), "wrapped"
        if state is payload:
            kind = "state_dict"
        if state is None:
            keys = ", ".join(map(str, list(payload)[:6]))
            raise UserInputError(
                f"{path}: no tensors found (a state dict, or one under 'state_dict' or 'model'); keys: {keys}"
            )
    epoch = payload.get("epoch")
    return Checkpoint(
        path=path,
        state_dict=_unwrapped({key: value for key, value in state.items() if isinstance(value, torch.Tensor)}),
        kind=kind,
        config=payload.get("config") if isinstance(payload.get("config"), dict) else None,
        names=list(payload["names"]) if isinstance(payload.get("names"), (list, tuple)) else None,
        epoch=int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        # A bare state dict holds weights only: none of its tensors is a stored metric.
        scalars={} if kind == "state_dict" else dict(_scalars(payload, skip=state)),
    )


def _find_state_dict(payload: dict) -> dict | None:
    for key in STATE_DICT_KEYS:
        inner = payload.get(key)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner
    return payload if any(isinstance(v, torch.Tensor) for v in payload.values()) else None


def _unwrapped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a prefix every name carries, so a DDP or compiled model's weights pair with a plain one's."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(name.startswith(prefix) for name in state):
            state = {name[len(prefix):]: value for name, value in state.items()}
    return state


def _scalars(tree: dict, skip: Any, prefix: str = "", depth: int = 0):
    for key, value in tree.items():
        if value is skip or str(key) in NOT_METRICS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            yield name, float(value)
        elif isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point:
            yield name, float(value)
        elif isinstance(value, dict) and depth < 2:
            yield from _scalars(value, skip, f"{name}.", depth + 1)
