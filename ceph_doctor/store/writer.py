"""Write a run directory so that any reader, at any moment, sees only whole records.

- The manifest and every predictions file are replaced atomically.
- Scalars are appended line by line; a reader drops a torn last line.
- On resume, rows newer than the checkpoint being resumed are removed first,
  so the continued run adds them again exactly once.
- One writer at a time: the run's lock (`lock.py`) is held from `start` to `close`.
- A resume never leaves a run less readable than it found it: a scalars file with a missing or
  damaged header gets its header back.
"""

from __future__ import annotations

import io
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.parquet as pq

from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.errors import UserInputError
from ceph_doctor.store import layout
from ceph_doctor.store.lock import RunLock


class RunWriter:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._scalars = None
        self._pending: dict[tuple[int, str, str], pd.DataFrame] = {}
        self._lock = RunLock(self.run_dir)

    @property
    def started(self) -> bool:
        return self._lock.held

    # -------------------------------------------------------------- manifest
    def start(self, manifest: dict[str, Any], resume_after: tuple[int, int] | None = None) -> None:
        """Open the run; `resume_after=(step, epoch)` continues an existing one from that checkpoint.
        Raises RunLocked (one line naming the holder) while another process writes the run."""
        self._lock.acquire()  # before looking: the check below and the first write are then one step
        try:
            self._start(manifest, resume_after)
        except BaseException:
            self._lock.release()
            raise

    def _start(self, manifest: dict[str, Any], resume_after: tuple[int, int] | None) -> None:
        if resume_after is None and (self.run_dir / layout.MANIFEST).exists():
            raise UserInputError(f"{self.run_dir}: already holds a run; resume it or choose another directory")
        now = _now()
        if resume_after is not None:
            self.truncate_after(*resume_after)
        if resume_after is not None and (self.run_dir / layout.MANIFEST).exists():
            previous = json.loads((self.run_dir / layout.MANIFEST).read_text())
            manifest = {**previous, **manifest, "created": previous.get("created", now)}
            manifest["resumed"] = previous.get("resumed", []) + [now]
        else:
            manifest = {**manifest, "created": now}
        self.manifest = {"schema_version": layout.SCHEMA_VERSION, **manifest, "status": "running", "updated": now}
        self._write_manifest()
        self._open_scalars()

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields, updated=_now())
        self._write_manifest()

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, default=_json_default, allow_nan=False)
        atomic_write_bytes(self.run_dir / layout.MANIFEST, text.encode())

    # --------------------------------------------------------------- scalars
    def _open_scalars(self) -> None:
        path = self.run_dir / layout.SCALARS
        new = not path.exists() or path.stat().st_size == 0
        self._scalars = open(path, "a", encoding="utf-8", newline="")
        if new:
            self._scalars.write(",".join(layout.SCALAR_COLUMNS) + "\n")
            self._scalars.flush()

    def add_scalars(self, step: int, epoch: int, values: dict[str, float], wall_time: float | None = None) -> None:
        wall_time = time.time() if wall_time is None else wall_time
        lines = [
            f"{step},{epoch},{_csv_tag(tag)},{float(value)!r},{wall_time:.3f}\n" for tag, value in values.items()
        ]
        self._scalars.write("".join(lines))

    def flush(self) -> None:
        """Make the scalars written so far visible to readers."""
        if self._scalars is not None:
            self._scalars.flush()

    # ----------------------------------------------------------- predictions
    def write_predictions_part(self, frame: pd.DataFrame, epoch: int, split: str, decode: str = "heatmap") -> None:
        """Hold one split's rows until `commit_predictions` writes the validation whole."""
        missing = set(layout.PREDICTION_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"predictions frame lacks columns {sorted(missing)}")
        self._pending[(epoch, decode, split)] = frame[list(layout.PREDICTION_COLUMNS)]

    def commit_predictions(self, epoch: int, decode: str = "heatmap") -> Path | None:
        keys = [key for key in self._pending if key[:2] == (epoch, decode)]
        if not keys:
            return None
        frame = pd.concat([self._pending.pop(key) for key in keys], ignore_index=True)
        return self.write_predictions(frame, epoch, decode)

    def write_predictions(self, frame: pd.DataFrame, epoch: int, decode: str = "heatmap") -> Path:
        table = pa.Table.from_pandas(frame[list(layout.PREDICTION_COLUMNS)], preserve_index=False)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        path = layout.prediction_file(self.run_dir, epoch, decode)
        atomic_write_bytes(path, sink.getbuffer())
        return path

    # ---------------------------------------------------------------- resume
    def truncate_after(self, step: int, epoch: int) -> None:
        """Forget everything recorded after the checkpoint at (`step`, `epoch`)."""
        # By step, not epoch: loops that validate several times an epoch resume correctly too.
        for path in (self.run_dir / layout.PREDICTIONS).glob("*.parquet"):
            steps = pq.read_table(path, columns=["step"]).column("step")
            if len(steps) == 0 or pa.compute.max(steps).as_py() > step:
                path.unlink()
        scalars = self.run_dir / layout.SCALARS
        if scalars.exists():
            kept = []
            lines = scalars.read_bytes().split(b"\n")
            body = lines[1:-1]  # the part after the last newline is torn or empty
            header = ",".join(layout.SCALAR_COLUMNS).encode()  # whatever the first line was: a disk full at
            if lines[0] != header:  # the start can leave none, and a damaged one would be kept for good
                body = lines[:-1]
            for line in body:
                try:
                    if int(line.split(b",", 1)[0]) <= step:
                        kept.append(line)
                except ValueError:
                    continue
            atomic_write_bytes(scalars, b"\n".join([header, *kept]) + b"\n")
        doctor = self.run_dir / layout.DOCTOR
        if doctor.exists():  # what the live doctor told after the checkpoint is told again, or not, as it recurs
            kept = [line for line in doctor.read_bytes().split(b"\n") if _event_epoch(line) <= epoch]
            atomic_write_bytes(doctor, b"".join(line + b"\n" for line in kept))

    def close(self, status: str, **manifest: Any) -> None:
        """Record the final status and give the run up to the next writer; nothing if it never started."""
        if not self.started:
            return
        try:
            if self._scalars is not None:
                self._scalars.close()
                self._scalars = None
            self.update_manifest(status=status, **manifest)
        finally:
            self._lock.release()


def _csv_tag(tag: str) -> str:
    """Tags are ours or a user's: quote any that would break the CSV."""
    if any(char in tag for char in ',"\n\r'):
        return '"' + tag.replace('"', '""').replace("\n", " ").replace("\r", " ") + '"'
    return tag


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy and torch scalars
        value = value.item()
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the manifest")


def _event_epoch(line: bytes) -> float:
    """The epoch of one doctor record line; a line that does not read counts as after every checkpoint."""
    try:
        return float(json.loads(line)["epoch"])
    except (ValueError, KeyError, TypeError):
        return math.inf
