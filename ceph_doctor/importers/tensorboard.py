"""TensorBoard event files from any writer (torch SummaryWriter, Lightning TensorBoardLogger, TF).

Read record by record with TensorBoard's own loader, so a file cut off mid-record keeps every
record before the cut. The loader stops at a damaged record without a word, so the file's record framing
is walked as well (lengths and their checksums, not the payloads: cheap on large files), and a file read
only in part says so: "read 140 of 282 records: stopped at a bad record at byte 18220". Epochs come from
an `epoch` scalar when the writer logged one (Lightning does), else from the validation steps.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd

from ceph_doctor.frameworks import lightning
from ceph_doctor.importers import Logged, Part, SkipNote, non_finite_note, rows_to_columns, scalar_table
from ceph_doctor.importers.names import NameMap
from ceph_doctor.store.meaning import parse

NAME = "tensorboard"
SKIP_TAGS = ("hp_metric",)  # Lightning's placeholder for hparams, not a curve


def is_epoch_counter(name: str) -> bool:
    """`epoch`, `trainer/epoch`, `Epoch`: a scalar that counts epochs (Lightning logs one at every step)."""
    return parse(name).quantity == "epoch"


def sniff(path: Path, head: bytes) -> bool:
    if len(head) < 12:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    # A TFRecord: 8-byte length, 4-byte CRC, then an Event proto whose first field is wall_time (0x09).
    return "tfevents" in path.name and 0 < length < 1 << 30 and (len(head) < 13 or head[12] == 0x09)


def run_root(path: Path) -> Path:
    return path.parent


def read(files: list[Path], names: NameMap) -> Part:
    rows: list[tuple] = []
    part = Part()
    for file in files:
        count, problem = read_file(file, rows)
        if count == 0 and problem:
            part.skipped.append(SkipNote(file, problem))
            continue
        part.read.append(file)
        if problem:
            part.unread.append(f"{file}: read {count} scalar(s), then stopped: {problem}")
    epochs = [(step, value) for step, _, key, value, _ in rows if is_epoch_counter(key.name)]
    rows = [row for row in rows if not is_epoch_counter(row[2].name) and row[2].name not in SKIP_TAGS]
    if epochs:
        logged = pd.Series(dict(epochs)).sort_index()
        steps = np.array([row[0] for row in rows], dtype=float)
        # Each step takes the epoch logged at or before it (Lightning logs `epoch` with every step it logs)…
        position = np.searchsorted(logged.index.to_numpy(float), steps, side="right") - 1
        values = logged.to_numpy(float)[np.clip(position, 0, len(logged) - 1)]
        # …except a tag written by hand at step = epoch (`add_scalar(name, value, current_epoch)`).
        by_epoch = epoch_stepped(rows, float(logged.max()))
        values = np.where([row[2] in by_epoch for row in rows], steps, values)
        if by_epoch:
            part.notes.append(f"{', '.join(sorted(k.name for k in by_epoch))}: logged at step = epoch, read so")
        rows = [(s, int(e) if np.isfinite(e) else None, t, v, w) for (s, _, t, v, w), e in zip(rows, values)]
        part.scalars = scalar_table([rows_to_columns(rows)], names, zero_based=True)
    else:
        part.scalars = scalar_table([rows_to_columns(rows)], names)
        if not part.scalars.table.empty:
            part.notes.append("no epoch scalar in the event files: epochs counted from the validation steps")
    part.notes.extend(non_finite_note(part.scalars.table))
    if lightning.wrote(files[0].parent):
        part.manifest = {"framework": {"name": lightning.NAME}}
    return part


def epoch_stepped(rows: list[tuple], last_epoch: float) -> set:
    """The tags whose steps count epochs (0, 1, 2… one record each, up to the last epoch) while the others
    count global steps well beyond that."""
    steps: dict = {}
    for step, _, key, _, _ in rows:
        steps.setdefault(key, []).append(step)
    highest = max((max(found) for found in steps.values()), default=0)
    chosen = set()
    for key, found in steps.items():
        found = np.unique(found)
        consecutive = len(found) >= 2 and np.all(np.diff(found) == 1) and found[0] in (0, 1)
        if consecutive and found[-1] <= last_epoch + 1 and highest > 1.5 * found[-1]:
            chosen.add(key)
    return chosen


def read_file(file: Path, rows: list[tuple]) -> tuple[int, str | None]:
    """Append the file's scalars to `rows`; (how many, what stopped the reading or None)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    count = events = 0
    try:
        for event in EventFileLoader(str(file)).Load():
            events += 1
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                number = scalar_value(value, tensor_util)
                if number is None:
                    continue
                rows.append((int(event.step), None, Logged(value.tag), number, float(event.wall_time)))
                count += 1
    except Exception as error:  # noqa: BLE001 — corrupt record: keep what came before it
        return count, f"corrupt or truncated record ({type(error).__name__})"
    offsets, end, size = framing(file)
    if events < len(offsets):  # the loader gave up on a record its framing holds
        return count, f"read {events} of {len(offsets)} records: stopped at a bad record at byte {offsets[events]}"
    if end < size:
        return count, f"read {events} records: the file ends in a cut or damaged record at byte {end} of {size}"
    return count, None if count else "no scalar summaries in the event file"


def framing(file: Path) -> tuple[list[int], int, int]:
    """(the byte offset of each whole record, where the whole records end, the file's size). A record is an 8-byte
    length, its 4-byte masked CRC-32C, the payload and the payload's CRC; a length whose CRC fails, or that runs
    past the end of the file, ends the walk."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    offsets, position = [], 0
    size = file.stat().st_size
    with open(file, "rb") as handle:
        while position + 12 <= size:
            header = handle.read(12)
            (length,) = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]) or position + 16 + length > size:
                break
            offsets.append(position)
            position += 16 + length
            handle.seek(position)
    return offsets, position, size


def scalar_value(value, tensor_util) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor"):
        try:
            array = tensor_util.make_ndarray(value.tensor)
        except Exception:  # noqa: BLE001 — an image or text summary, not a scalar
            return None
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            return float(array.reshape(-1)[0])
    return None
