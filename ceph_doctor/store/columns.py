"""A run's per-landmark predictions as numpy columns, and the grouped statistics the judging takes of them.

The judging reads these arrays, not a pandas frame: importing pandas costs more than reading and judging a
whole run (`benchmarks/startup.py`), and `analyze RUN --format json` should answer as fast as a linter. The
reports and users' own code still get the frame (`PredictionTable.frame()`), pandas imported then.

    table = PredictionTable.from_arrow(arrow_table)      # or .from_frame(frame), or PredictionTable.no_rows()
    val = table.rows(table["split"] == "val")
    grid = val.grid("epoch", "landmark", "error_px")      # epoch × landmark: mean, count, variance per cell
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ceph_doctor.store import layout

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def factorize(values: np.ndarray, sort: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) with `uniques[codes] == values`; uniques sorted (or in order of first appearance). Works on
    any hashable values, strings of any mix included (a dict, where `np.unique` would compare them)."""
    values = np.asarray(values)
    if values.dtype != object:
        if not sort:  # first appearance: np.unique sorts, then the order is restored from the first index
            uniques, first, codes = np.unique(values, return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            remap = np.empty(len(order), np.int64)
            remap[order] = np.arange(len(order))
            return remap[codes.ravel()], uniques[order]
        uniques, codes = np.unique(values, return_inverse=True)
        return codes.ravel().astype(np.int64), uniques
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(value, len(index)) for value in values), np.int64, len(values))
    uniques = np.empty(len(index), object)
    uniques[:] = list(index)
    if sort and len(uniques) > 1:
        try:
            order = np.argsort(uniques, kind="stable")
        except TypeError:  # values of kinds that do not compare (a name and a number): by their text
            order = np.argsort(uniques.astype(str), kind="stable")
        remap = np.empty(len(order), np.int64)
        remap[order] = np.arange(len(order))
        codes, uniques = remap[codes], uniques[order]
    return codes, uniques


@dataclass(frozen=True)
class Grid:
    """Per cell (row key × column key): how many finite values it holds, their mean and their variance (ddof 1).
    A cell without values, or with one for the variance, is NaN, as pandas' grouped mean and var leave it."""

    rows: np.ndarray  # the row keys, sorted
    columns: np.ndarray  # the column keys, in order of first appearance
    count: np.ndarray  # (R, C)
    mean: np.ndarray  # (R, C)
    var: np.ndarray  # (R, C)


def grid(row_values: np.ndarray, column_values: np.ndarray, values: np.ndarray) -> Grid:
    """`values` grouped by (row, column) key: rows sorted, columns in order of first appearance (a run's landmarks
    in their own order); NaN values left out, inf kept (a mean with one is inf)."""
    row_codes, rows = factorize(row_values)
    column_codes, columns = factorize(column_values, sort=False)
    shape = (len(rows), len(columns))
    size = shape[0] * shape[1]
    values = np.asarray(values, np.float64)
    kept = ~np.isnan(values)
    cell = (row_codes * len(columns) + column_codes)[kept]
    # Measured from each cell's first value: a cell of equal values then has a variance of exactly 0, as pandas'
    # grouped var gives it, not the rounding of a mean (a collapsed landmark's spread is 0, not 1e-15).
    first = np.zeros(size)
    first[cell[::-1]] = values[kept][::-1]
    shifted = values[kept] - first[cell]
    count = np.bincount(cell, minlength=size).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted_mean = np.bincount(cell, shifted, minlength=size) / count
        squares = np.bincount(cell, (shifted - shifted_mean[cell]) ** 2, minlength=size)
        var = np.where(count > 1, squares / (count - 1), np.nan)
    mean = first + shifted_mean
    return Grid(rows, columns, count.reshape(shape), mean.reshape(shape), var.reshape(shape))


def mean_per(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, the mean of each key's values with NaN left out; NaN where a key has none)."""
    cells = grid(keys, np.zeros(len(keys)), values)  # one column: the grid's rows are the keys
    return cells.rows, cells.mean[:, 0]


def median_per(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, the median of each key's values with NaN left out; NaN where a key has none): one sort by key
    and value, then the middle of each key's run."""
    codes, uniques = factorize(keys)
    values = np.asarray(values, np.float64)
    counted = ~np.isnan(values)
    codes, values = codes[counted], values[counted]
    order = np.lexsort((values, codes))
    codes, values = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, len(codes)])
    low, high = starts + (counts - 1) // 2, starts + counts // 2
    medians = np.full(len(uniques), np.nan)
    medians[codes[starts]] = (values[low] + values[high]) / 2
    return uniques, medians


class PredictionTable:
    """One numpy array per column of `layout.PREDICTION_COLUMNS` (other tools' runs may lack some), rows in the
    store's order: epoch, decode, split, image, landmark. Text columns are numpy str arrays, or object arrays of
    str (and None) where they came from a frame or have gaps."""

    def __init__(self, columns: Mapping[str, np.ndarray], frame: "pd.DataFrame | None" = None) -> None:
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"prediction columns of different lengths: {sorted(lengths)}")
        self._columns = {name: np.asarray(values) for name, values in columns.items()}
        self._length = lengths.pop() if lengths else 0
        self._frame = frame  # the frame it was made from, or the one made for a reader who asked

    @classmethod
    def no_rows(cls) -> "PredictionTable":
        return cls({name: np.zeros(0, _EMPTY_TYPES.get(name, object)) for name in layout.PREDICTION_COLUMNS})

    @classmethod
    def from_frame(cls, frame: "pd.DataFrame") -> "PredictionTable":
        """The frame's columns as arrays (text as object arrays, missing text as None); the frame is kept, and is
        what `frame()` returns."""
        columns = {}
        for name in frame.columns:
            column = frame[name]
            if column.dtype.kind not in "biuf":
                columns[str(name)] = column.to_numpy(dtype=object, na_value=None)
            elif column.isna().any():  # a nullable integer column with gaps: NaN where pandas holds NA
                columns[str(name)] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                columns[str(name)] = column.to_numpy()
        return cls(columns, frame)

    @classmethod
    def from_arrow(cls, table: "pa.Table") -> "PredictionTable":
        """The table's columns as arrays (`numpy_column`)."""
        return cls({name: numpy_column(table.column(name)) for name in table.column_names})

    def __len__(self) -> int:
        return self._length

    @property
    def empty(self) -> bool:
        return self._length == 0

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def rows(self, keep: np.ndarray) -> "PredictionTable":
        """The rows where `keep` (a boolean array) holds, in order."""
        if keep.all():
            return self
        return PredictionTable({name: values[keep] for name, values in self._columns.items()})

    def where(self, **equal: Any) -> "PredictionTable":
        """The rows whose columns equal the given values, e.g. `table.where(split="val", epoch=3)`."""
        keep = np.ones(self._length, bool)
        for name, value in equal.items():
            keep &= self._columns[name] == value
        return self.rows(keep)

    def unique(self, name: str) -> list:
        """The column's distinct values, sorted (numbers as Python numbers)."""
        return factorize(self._columns[name])[1].tolist()

    def floats(self, *names: str) -> np.ndarray:
        """The named columns as float64: one (N,) array for one name, (N, len(names)) for several."""
        if len(names) == 1:
            return np.asarray(self._columns[names[0]], np.float64)
        return np.stack([np.asarray(self._columns[name], np.float64) for name in names], axis=1)

    def grid(self, rows: str, columns: str, values: str) -> Grid:
        return grid(self._columns[rows], self._columns[columns], self.floats(values))

    def frame(self) -> "pd.DataFrame":
        """The rows as a pandas DataFrame (made once; pandas imported here, not where the judging runs)."""
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame({name: _frame_column(values) for name, values in self._columns.items()},
                                       columns=self.columns)
        return self._frame


def numpy_column(column: "pa.ChunkedArray | pa.Array") -> np.ndarray:
    """An arrow column as a numpy array: numbers as numpy numbers (a null as NaN, as pandas reads it), text as a
    numpy str array (an object array of str and None where it has nulls), anything else as an object array.
    Not `to_numpy()`: pyarrow converts through its pandas layer, which imports pandas, and that alone costs more
    than reading and judging a run. Numbers without nulls pass by DLPack (no copy per chunk), dictionaries by their
    indices, the rest through Python objects."""
    import pyarrow.types as types

    chunks = column.chunks if hasattr(column, "chunks") else [column]
    kind = column.type
    if types.is_dictionary(kind) and not column.null_count:  # each chunk's own dictionary, taken by its indices
        parts = [numpy_column(chunk.dictionary)[numpy_column(chunk.indices)] for chunk in chunks]
        return np.concatenate(parts) if parts else np.zeros(0, str)
    if not (types.is_integer(kind) or types.is_floating(kind) or types.is_boolean(kind)):
        if (types.is_string(kind) or types.is_large_string(kind)) and not column.null_count and len(column):
            # Text without gaps as a numpy str array: grouped and sorted in C, where Python objects compare one by
            # one (a 60-epoch run's image ids: 40 ms as objects).
            return np.array(column.to_pylist(), dtype=str)
        values = np.empty(len(column), object)
        values[:] = column.to_pylist()
        return values
    if column.null_count or types.is_boolean(kind) or not chunks:
        dtype = bool if types.is_boolean(kind) and not column.null_count else np.float64
        return np.array([np.nan if value is None else value for value in column.to_pylist()], dtype)
    arrays = [np.from_dlpack(chunk) for chunk in chunks]
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _frame_column(values: np.ndarray) -> np.ndarray:
    # Text as Python objects: pandas then infers its own text type, as it does reading the parquet files itself.
    return values.astype(object) if values.dtype.kind == "U" else values


_EMPTY_TYPES = {"epoch": np.int64, "step": np.int64, "landmark_index": np.int64, "pred_x": np.float64,
                "pred_y": np.float64, "true_x": np.float64, "true_y": np.float64, "error_px": np.float64,
                "error_mm": np.float64, "peak": np.float64, "peak_width": np.float64}
