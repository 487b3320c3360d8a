"""Checkpoints: written atomically, read without ever unpickling code.

A checkpoint is a dict of tensors and plain values (config, metrics,
landmark names), so `torch.load(weights_only=True)` reads it completely and a
file crafted to run code on load is refused instead.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.errors import UserInputError

FORMAT = "ceph-doctor-checkpoint"
VERSION = 1


class UnsafeCheckpointError(UserInputError):
    """The file needs arbitrary code to load; it was not loaded."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` so that `path` is either the old file or the complete new one."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    atomic_write_bytes(path, buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with pickle's code execution disabled; one clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{path}: refused: the file holds pickled objects that would run code on load "
            f"({str(error).splitlines()[-1] if str(error) else 'unsupported global'}); "
            "only weights-only checkpoints are read"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise UserInputError(f"{path}: not a readable PyTorch checkpoint ({str(error).splitlines()[0]})") from None
    if not isinstance(payload, dict):
        raise UserInputError(f"{path}: checkpoint holds a {type(payload).__name__}, expected a dict")
    return payload


def is_ceph_doctor_checkpoint(payload: dict[str, Any]) -> bool:
    return payload.get("format") == FORMAT
