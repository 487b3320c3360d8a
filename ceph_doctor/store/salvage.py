"""Reading a run store whose files were damaged (a full disk, a copy cut short, an editor, a stray file): every
record that can be read is kept, and what could not be read is said, never dropped in silence.

    table, unread = read_scalars(run_dir)        # scalars.csv; torn or malformed lines skipped and counted
    table, unread = read_predictions(run_dir)    # predictions/*.parquet; unreadable or foreign files skipped

`unread` holds one sentence per problem, naming the file ("scalars.csv: read 1520 of 1523 lines; skipped 3
damaged lines, the first at line 153: 6 fields, not 5"). The reports show it for the run (`Run.unread`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as arrow_csv
import pyarrow.parquet as pq

from ceph_doctor.store import layout
from ceph_doctor.store.columns import PredictionTable, factorize, numpy_column
from ceph_doctor.store.scalars import ScalarTable

_SCALAR_TYPES = {"step": np.int64, "epoch": np.int64, "tag": object, "value": np.float64, "wall_time": np.float64}
_PREDICTION_ORDER = ["epoch", "decode", "split", "image_id", "landmark_index"]


def read_scalars(run_dir: Path) -> tuple[ScalarTable, list[str]]:
    path = run_dir / layout.SCALARS
    if not path.exists():
        return _scalar_table([]), []
    data = path.read_bytes()
    # A writer killed mid-line leaves a torn last line: everything after the last newline. Its value may be a
    # number cut short ("0.12" of "0.1234"), so it is never read; it is said, as the end of a killed writer (or
    # of one still writing it).
    whole = data.rfind(b"\n") + 1
    torn = [f"{path}: skipped its last line, cut short ({len(data) - whole} bytes without a line end: the writer "
            "stopped mid-row, or was writing it)"] if data[whole:].strip() else []
    data = data[:whole]
    try:
        table = arrow_csv.read_csv(io.BytesIO(data), convert_options=_SCALAR_CONVERSION)
        if tuple(table.column_names) == layout.SCALAR_COLUMNS:
            # A column of numbers reads as numpy numbers (a "nan" value as NaN), the tag as an object array of str.
            return ScalarTable(columns={name: np.asarray(numpy_column(table.column(name)), _SCALAR_TYPES[name])
                                        for name in layout.SCALAR_COLUMNS}), torn
    except pa.ArrowException:
        pass  # read it line by line below, to keep what is whole
    table, problems = _salvaged_scalars(path, data)
    return table, [*problems, *torn]


_SCALAR_CONVERSION = arrow_csv.ConvertOptions(
    column_types={"step": pa.int64(), "epoch": pa.int64(), "tag": pa.string(), "value": pa.float64(),
                  "wall_time": pa.float64()},
    null_values=["nan"], strings_can_be_null=False, quoted_strings_can_be_null=False,  # a tag "nan" is a tag
)


def _salvaged_scalars(path: Path, data: bytes) -> tuple[ScalarTable, list[str]]:
    lines = data.decode("utf-8", errors="replace").split("\n")[:-1]
    if not lines:
        return _scalar_table([]), [f"{path}: empty, not even its header (the run's first write failed)"]
    header = ",".join(layout.SCALAR_COLUMNS)
    body, first = (lines[1:], 2) if lines[0].strip() == header else (lines, 1)
    rows, bad = [], []
    for number, line in enumerate(body, start=first):
        row, problem = _scalar_row(line)
        if problem is None:
            rows.append(row)
        else:
            bad.append((number, problem))
    table = _scalar_table(rows)
    problems = [] if first == 2 else [f"{path}: its first line is not the header ({header})"]
    if bad:
        number, problem = bad[0]
        problems.append(f"{path}: read {len(rows)} of {len(body)} lines; skipped {len(bad)} damaged "
                        f"{'line' if len(bad) == 1 else 'lines'}, the first at line {number}: {problem}")
    return table, problems


def _scalar_row(line: str) -> tuple[list | None, str | None]:
    """A parsed row, or why the line is not one."""
    if "\ufffd" in line:
        return None, "bytes that are not text"
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None, "not a CSV line"
    if len(fields) != len(layout.SCALAR_COLUMNS):
        return None, f"{len(fields)} fields, not {len(layout.SCALAR_COLUMNS)}"
    step, epoch, tag, value, wall_time = fields
    try:
        return [int(step), int(epoch), tag, float(value), float(wall_time)], None
    except ValueError:
        return None, "a step, epoch, value or time that is not a number"


def _scalar_table(rows: list[list]) -> ScalarTable:
    columns = list(zip(*rows)) if rows else [()] * len(layout.SCALAR_COLUMNS)
    return ScalarTable(columns={name: np.array(values, dtype=_SCALAR_TYPES[name])
                                for name, values in zip(layout.SCALAR_COLUMNS, columns)})


def read_predictions(run_dir: Path, cache: dict | None = None) -> tuple[PredictionTable | None, list[str]]:
    """The predictions of every readable file (None when there are none), and what could not be read.

    `cache` (a dict the caller keeps between reads of a run being written): each file is read once while its
    size and modification time stay the same."""
    folder = run_dir / layout.PREDICTIONS
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables, problems = [], []
    for path in files:
        try:
            table = _read_table(path, cache)
        except (pa.ArrowException, OSError) as error:
            problems.append(f"{path}: not a readable parquet file ({_first_line(error)}); its validation is left out")
            continue
        missing = [name for name in layout.PREDICTION_COLUMNS if name not in table.column_names]
        if missing:
            problems.append(f"{path}: lacks the columns {', '.join(missing)} of a predictions file; left out")
            continue
        tables.append(table.select(list(layout.PREDICTION_COLUMNS)))
    if not tables:
        return None, problems
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as error:
        return None, [*problems, f"{folder}: files of different schemas ({_first_line(error)}); predictions left out"]
    return _sorted(PredictionTable.from_arrow(table)), problems


def _sorted(table: PredictionTable) -> PredictionTable:
    """The rows in `_PREDICTION_ORDER` (whatever order the files were written and named in)."""
    order = np.lexsort([factorize(table[name])[0] for name in reversed(_PREDICTION_ORDER)])
    return PredictionTable({name: table[name][order] for name in table.columns})


def _read_table(path: Path, cache: dict | None) -> pa.Table:
    if cache is None:
        return _read_parquet(path)
    status = path.stat()
    key = (status.st_size, status.st_mtime_ns)
    known = cache.get(path.name)
    if known is None or known[0] != key:
        known = cache[path.name] = (key, _read_parquet(path))
    return known[1]


def _read_parquet(path: Path) -> pa.Table:
    # Not `pq.read_table`: it goes through pyarrow's dataset layer, which imports pandas (a third of a second).
    # The text columns are read as dictionaries: a validation names a few images and landmarks many times over,
    # and each distinct name then becomes one Python string, not one per row.
    try:
        with pq.ParquetFile(path, read_dictionary=_TEXT_COLUMNS) as file:
            return file.read()
    except KeyError:  # a file without one of them: read as it is; the caller names the columns it lacks
        with pq.ParquetFile(path) as file:
            return file.read()


_TEXT_COLUMNS = ["split", "decode", "image_id", "landmark"]  # a column of numbers among them is read as it is


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
