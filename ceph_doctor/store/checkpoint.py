"""Checkpoints: written atomically, read without ever unpickling code or trusting the sizes inside.

A checkpoint is a dict of tensors and plain values (config, metrics,
landmark names), so `torch.load(weights_only=True)` reads it completely and a
file crafted to run code on load is refused instead. A file from elsewhere may also
be crafted to exhaust memory or time: its archive is checked before loading (no entry
compressed to a fraction of what it unpacks to: torch stores weights uncompressed)
and its tensors after (none may claim more elements than its storage holds, as a
stride-0 view of 2^40 elements on one float does).
"""

from __future__ import annotations

import io
import pickle
import zipfile
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
    if path.stat().st_size == 0:
        raise UserInputError(f"{path}: empty file, not a PyTorch checkpoint")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "GLOBAL" not in text:  # bytes that are no pickle torch wrote: damaged or foreign, not code
            raise UserInputError(f"{path}: not a PyTorch checkpoint ({_said(text)})") from None
        raise UnsafeCheckpointError(
            f"{path}: refused: the file holds pickled objects that would run code on load "
            f"({_said(text)}); only weights-only checkpoints are read"
        ) from None
    except Exception as error:  # noqa: BLE001 — damaged bytes send the weights-only unpickler (which runs no
        # code) into whatever its parser meets: IndexError, KeyError, struct.error… all mean the same to the user
        said = _last_line(str(error)) or type(error).__name__
        raise UserInputError(f"{path}: not a readable PyTorch checkpoint ({said})") from None
    if not isinstance(payload, dict):
        raise UserInputError(f"{path}: checkpoint holds a {type(payload).__name__}, expected a dict")
    _check_tensors(payload, path)
    return payload


COMPRESSION_LIMIT = 20  # torch stores its entries uncompressed; a zip packer seldom gains more than a few ×


def _check_archive(path: Path) -> None:
    """Refuse an archive entry that unpacks to far more than it takes in the file (a deflate bomb)."""
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format, or not a checkpoint at all: torch.load says which
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:  # an end record found, the rest damaged
        raise UserInputError(f"{path}: not a readable PyTorch checkpoint (damaged archive: {error})") from None
    with archive:
        for entry in archive.infolist():
            if entry.compress_type != zipfile.ZIP_STORED and entry.file_size > COMPRESSION_LIMIT * max(
                    entry.compress_size, 1024):
                raise UserInputError(f"{path}: refused: {entry.filename} unpacks to {entry.file_size:,} bytes from "
                                     f"{entry.compress_size:,}; torch writes weights uncompressed")


def _check_tensors(payload: Any, path: Path, depth: int = 0) -> None:
    """Refuse a tensor that claims more elements than its storage holds (a broadcast view): reading it would
    walk them all."""
    if depth > 8:
        return
    values = payload.values() if isinstance(payload, dict) else payload if isinstance(payload, (list, tuple)) else ()
    for value in values:
        if isinstance(value, torch.Tensor):
            held = value.untyped_storage().nbytes() // max(value.element_size(), 1)
            if value.numel() > max(held, 1):
                raise UserInputError(f"{path}: refused: a tensor of shape {tuple(value.shape)} ({value.numel():,} "
                                     f"elements) stands on a storage of {held:,}; a weights file holds no such view")
        elif isinstance(value, (dict, list, tuple)):
            _check_tensors(value, path, depth + 1)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _said(text: str) -> str:
    """The line of torch's weights-only refusal that says what it met, not the advice around it."""
    said = [line.strip() for line in text.splitlines() if "GLOBAL" in line or line.strip().startswith("Unsupported")]
    return (said[0] if said else _last_line(text))[:200]


def is_ceph_doctor_checkpoint(payload: dict[str, Any]) -> bool:
    return payload.get("format") == FORMAT
