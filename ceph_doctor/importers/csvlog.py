"""CSV logs: Lightning's CSVLogger `metrics.csv` (sparse rows, `_step` / `_epoch` copies), Keras'
CSVLogger, Ultralytics' `results.csv` (padded headers), pandas `to_csv` histories, and any table with an
epoch or step column, whatever the file is called (`.txt`, `training.log` included). A table of
per-image predictions (pred and truth x/y columns) becomes prediction rows (`predictions_table`).

Empty cells are "not logged this row"; `nan` / `inf` cells are kept as logged; other text in a
number column is skipped and counted. A last line torn off mid-write is dropped. (A saved config
beside the table, `hparams.yaml` or `args.yaml`, is read by `settings.py`.)
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from ceph_doctor.frameworks import lightning
from ceph_doctor.importers import Columns, Logged, Part, non_finite_note, scalar_table, to_float
from ceph_doctor.importers.names import NameMap
from ceph_doctor.importers.predictions import prediction_columns, predictions_table

NAME = "csv"
EPOCH_COLUMNS = ("epoch", "epochs", "ep")
STEP_COLUMNS = ("step", "global_step", "iter", "iteration", "steps", "iterations")
DELIMITERS = (",", "\t", ";")


def normalise(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower())


def header(text: str) -> tuple[list[str], str] | None:
    """The header's column names and delimiter, if the first line looks like a log table's header."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    for delimiter in DELIMITERS:
        names = [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]
        keys = {normalise(name) for name in names}
        indexed = keys & {*EPOCH_COLUMNS, *STEP_COLUMNS} or prediction_columns(names) is not None
        if len(names) >= 2 and indexed and all(names):
            return names, delimiter
    return None


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".json", ".jsonl") or b"\x00" in head:
        return False
    text = head[: nth_newline(head, 6)].decode("utf-8", "replace")  # the header and five data lines at most
    found = header(text)
    if found is None:
        return False
    names, delimiter = found
    # One data line whose field count matches the header: a table, not prose that starts with "epoch,".
    lines = [line for line in text.splitlines()[1:6] if line.strip()]
    return not lines or any(len(next(csv.reader([line], delimiter=delimiter))) == len(names) for line in lines)


def nth_newline(data: bytes, count: int) -> int:
    end = -1
    for _ in range(count):
        end = data.find(b"\n", end + 1)
        if end < 0:
            return len(data)
    return end + 1


def run_root(path: Path) -> Path:
    return path.parent


def read(files: list[Path], names: NameMap) -> Part:
    columns: list[Columns] = []
    notes: list[str] = []
    predictions = []
    for file in files:
        data = file.read_bytes()
        found = header(data[: nth_newline(data, 8)].decode("utf-8", "replace").lstrip())  # blank lines, then the header
        roles = prediction_columns(found[0]) if found else None
        if roles is not None:
            frame, file_notes = predictions_table(file, roles, found[1])
            predictions.append(frame)
        else:
            file_columns, file_notes = read_file(data, found)
            columns.append(file_columns)
        notes.extend(f"{file.name}: {note}" for note in file_notes)
    scalars = scalar_table(columns, names, zero_based=True)
    frame = pd.concat(predictions, ignore_index=True) if predictions else None
    part = Part(scalars, predictions=frame, notes=notes + non_finite_note(scalars.table), read=list(files))
    if lightning.wrote(files[0].parent):
        part.manifest = {"framework": {"name": lightning.NAME}}
    return part


def read_file(data: bytes, found: tuple[list[str], str] | None = None) -> tuple[Columns, list[str]]:
    """The columns of one CSV log; `found` is its header (names, delimiter) when the caller has it."""
    notes = []
    if data and not data.endswith(b"\n") and b"\n" in data:
        data = data[: data.rfind(b"\n") + 1]
        notes.append("dropped a last line cut off mid-write")
    data = data.lstrip()  # blank lines before the header
    found = found or header(data[: data.find(b"\n") + 1 or len(data)].decode("utf-8", "replace"))
    if found is None:
        return {}, ["no header with an epoch or step column"]
    columns, delimiter = found
    keys = [normalise(name) for name in columns]
    epoch_at = next((keys.index(k) for k in EPOCH_COLUMNS if k in keys), None)
    step_at = next((keys.index(k) for k in STEP_COLUMNS if k in keys), None)
    tags = {at: Logged(name) for at, name in enumerate(columns) if at not in (epoch_at, step_at)}
    cells = parse_fast(data, len(columns), delimiter)
    if cells is None:  # rows of the wrong length, odd encodings: the csv module, row by row
        cells, more_notes = parse_rows(data.decode("utf-8", "replace"), len(columns), delimiter)
        notes.extend(more_notes)
    rows = cells.rows
    step = cells.numbers(step_at)[0] if step_at is not None else None
    if step is None and epoch_at is not None:
        step = cells.numbers(epoch_at)[0]
    # A row without a usable step is placed by its position in the file.
    position = np.arange(rows, dtype=float)
    step = position if step is None else np.where(np.isfinite(step) & (np.abs(step) < 1e15), step, position)
    epoch = cells.numbers(epoch_at)[0] if epoch_at is not None else np.full(rows, np.nan)
    epoch = np.where(np.abs(epoch) < 1e9, np.trunc(epoch), np.nan)
    found_columns: Columns = {}
    bad_cells = 0
    for at, tag in tags.items():
        values, logged, bad = cells.numbers(at)
        bad_cells += bad
        if logged.any():
            found_columns[tag] = (step[logged], epoch[logged], values[logged])
    if bad_cells:
        notes.append(f"skipped {bad_cells} cell(s) that are not numbers")
    return found_columns, notes


@dataclass
class Cells:
    """A parsed table: `numbers(at)` → (float values, logged mask, cells that are not numbers) of column `at`."""

    rows: int
    numbers: Callable[[int], tuple[np.ndarray, np.ndarray, int]]


def parse_fast(data: bytes, width: int, delimiter: str) -> Cells | None:
    """pyarrow's CSV reader; None when any row has another field count than the header (or the bytes
    are not UTF-8), so that the row-by-row reader can say what it did with them.

    Every column is read as float64 first (the common case, and the fastest); a column holding
    text makes that fail, and the file is read again with the types inferred."""
    names = [f"c{i}" for i in range(width)]
    irregular = []
    options = dict(
        # One thread: files are many and small, and the process has other work between them.
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=lambda row: irregular.append(row) or "skip"
        ),
    )
    # Empty cells are "not logged" (null); "nan" and "inf" are numbers, kept as logged.
    all_numbers = pa_csv.ConvertOptions(null_values=[""], column_types={name: pa.float64() for name in names})
    inferred = pa_csv.ConvertOptions(null_values=[""], strings_can_be_null=True)
    table = None
    for convert in (all_numbers, inferred):
        try:
            table = pa_csv.read_csv(pa.BufferReader(data), convert_options=convert, **options)
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            irregular.clear()
    if table is None or irregular:
        return None

    def numbers(at: int) -> tuple[np.ndarray, np.ndarray, int]:
        cells = table.column(at)
        kind = cells.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            logged = cells.is_valid().to_numpy(zero_copy_only=False)
            return cells.cast(pa.float64()).to_numpy(zero_copy_only=False), logged, 0
        return numbers_of(cells.cast(pa.string()).to_pylist())

    return Cells(table.num_rows, numbers)


def parse_rows(text: str, width: int, delimiter: str) -> tuple[Cells, list[str]]:
    """The csv module, row by row: short rows are read as far as they go, long ones cut to the header."""
    records = []
    irregular = 0
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)  # a stray \r is a line end, not an error
    next(reader, None)
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != width:
            irregular += 1
            record = (record + [""] * width)[:width]
        records.append(record)
    notes = [f"{irregular} row(s) with a different number of fields than the header (read as far as they go)"] \
        if irregular else []
    return Cells(len(records), lambda at: numbers_of([record[at] for record in records])), notes


def numbers_of(cells: list[str | None]) -> tuple[np.ndarray, np.ndarray, int]:
    """Text cells → (values, logged, how many were neither empty nor a number)."""
    values = np.full(len(cells), np.nan)
    logged = np.zeros(len(cells), bool)
    bad = 0
    for index, cell in enumerate(cells):
        if cell is None or not cell.strip():
            continue
        value = to_float(cell)
        if value is None:
            bad += 1
        else:
            values[index], logged[index] = value, True
    return values, logged, bad
