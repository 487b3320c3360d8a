"""CSV logs: Lightning's CSVLogger `metrics.csv` (sparse rows, `_step` / `_epoch` copies) and any
table with an epoch or step column, whatever the file is called (`.txt` included).

Empty cells are "not logged this row"; `nan` / `inf` cells are kept as logged; other text in a
number column is skipped and counted. A last line torn off mid-write is dropped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ceph_doctor.importers import Part, non_finite_note, one_based, scalar_frame, to_float
from ceph_doctor.importers.names import NameMap, normalise

NAME = "csv"
EPOCH_COLUMNS = ("epoch", "epochs", "ep")
STEP_COLUMNS = ("step", "global_step", "iter", "iteration", "steps")
DELIMITERS = (",", "\t", ";")


def header(text: str) -> tuple[list[str], str] | None:
    """The header's column names and delimiter, if the first line looks like a log table's header."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    for delimiter in DELIMITERS:
        names = [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]
        keys = {normalise(name) for name in names}
        if len(names) >= 2 and keys & {*EPOCH_COLUMNS, *STEP_COLUMNS} and all(names):
            return names, delimiter
    return None


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".json", ".jsonl") or b"\x00" in head:
        return False
    text = head.decode("utf-8", "replace")
    found = header(text)
    if found is None:
        return False
    names, delimiter = found
    # One data line whose field count matches the header: a table, not prose that starts with "epoch,".
    lines = [line for line in text.splitlines()[1:6] if line.strip()]
    return not lines or any(len(next(csv.reader([line], delimiter=delimiter))) == len(names) for line in lines)


def run_root(path: Path) -> Path:
    return path.parent


def read(files: list[Path], names: NameMap) -> Part:
    part = Part(scalar_frame([]))
    rows: list[tuple] = []
    for file in files:
        file_rows, notes = read_file(file, names)
        rows.extend(file_rows)
        part.notes.extend(f"{file.name}: {note}" for note in notes)
        part.read.append(file)
    has_epochs = any(row[1] is not None for row in rows)
    frame = scalar_frame(rows, infer_epochs=not has_epochs)
    part.scalars = one_based(frame) if has_epochs else frame
    part.notes.extend(non_finite_note(part.scalars))
    return part


def read_file(file: Path, names: NameMap) -> tuple[list[tuple], list[str]]:
    text = file.read_text(errors="replace")
    notes = []
    if text and not text.endswith("\n") and "\n" in text:
        text = text[: text.rfind("\n") + 1]
        notes.append("dropped a last line cut off mid-write")
    found = header(text)
    if found is None:
        return [], ["no header with an epoch or step column"]
    columns, delimiter = found
    keys = [normalise(name) for name in columns]
    epoch_at = next((keys.index(k) for k in EPOCH_COLUMNS if k in keys), None)
    step_at = next((keys.index(k) for k in STEP_COLUMNS if k in keys), None)
    tags = column_tags(columns, {epoch_at, step_at}, names)
    rows: list[tuple] = []
    short = bad_cells = 0
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    next(reader, None)
    for index, record in enumerate(reader):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            short += 1
            if len(record) < len(columns):
                record = record + [""] * (len(columns) - len(record))
        epoch = to_float(record[epoch_at]) if epoch_at is not None else None
        step = to_float(record[step_at]) if step_at is not None else epoch
        step = step if step is not None and step == step and abs(step) < 1e15 else float(index)
        epoch = int(epoch) if epoch is not None and epoch == epoch and abs(epoch) < 1e9 else None
        for at, tag in tags.items():
            if at >= len(record) or not record[at].strip():
                continue
            value = to_float(record[at])
            if value is None:
                bad_cells += 1
                continue
            rows.append((int(step), epoch, tag, value, None))
    if short:
        notes.append(f"{short} row(s) with a different number of fields than the header (read as far as they go)")
    if bad_cells:
        notes.append(f"skipped {bad_cells} cell(s) that are not numbers")
    return rows, notes


def column_tags(columns: list[str], index_columns: set, names: NameMap) -> dict[int, str]:
    """Column position → tag; a Lightning `_epoch` copy of a `_step` metric keeps a tag of its own."""
    tags: dict[int, str] = {}
    used: set[str] = set()
    order = sorted(range(len(columns)), key=lambda i: normalise(columns[i]).endswith("_epoch"))
    for at in order:
        if at in index_columns:
            continue
        tag = names.tag(columns[at])
        if tag in used:
            tag = f"{tag}_epoch" if normalise(columns[at]).endswith("_epoch") else columns[at]
        used.add(tag)
        tags[at] = tag
    return tags
