"""Loader for a plain folder of images plus one landmark CSV.

    image,landmark,x,y[,spacing_mm]
    001.png,Sella,812.5,1020
    001.png,Nasion,1390,955

One row per image x landmark, x/y in original-image pixels. `image` is a
path relative to the root (an extension may be left out). Landmark names
keep their first-appearance order; an image lacking a landmark gets NaN.
`spacing_mm` (mm per pixel) is optional and may be left empty per row.
Any other column is a per-image label (`cvm_stage`, `age`: what an auxiliary
task predicts): a number, the same on every row of an image that gives it.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ceph_doctor.data.image_io import IMAGE_SUFFIXES, list_images, require_dir
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.errors import DataError

REQUIRED_COLUMNS = ("image", "landmark", "x", "y")
SPACING_COLUMN = "spacing_mm"


def load_folder(root: Path, csv_path: Path | None = None) -> LandmarkSet:
    """Load every image the CSV names; the CSV is the single *.csv in `root` unless given."""
    root = Path(root)
    require_dir(root, "dataset folder of images and a landmark CSV")
    csv_path = _single_csv(root) if csv_path is None else Path(csv_path)
    table = parse_landmark_csv(_read_text(csv_path), csv_path)
    names = tuple(pd.unique(table["landmark"]))
    label_columns = [column for column in table.columns if column not in (*REQUIRED_COLUMNS, SPACING_COLUMN, "line")]
    index_of = {name: k for k, name in enumerate(names)}

    records: list[LandmarkRecord] = []
    first_use: dict[str, tuple[str, int]] = {}  # image id -> (CSV spelling, line)
    for image, rows in table.groupby("image", sort=False):
        first_line = int(rows["line"].iloc[0])
        path = _resolve_image(root, image, csv_path, first_line)
        if path.stem in first_use:
            other, other_line = first_use[path.stem]
            raise DataError(
                csv_path,
                f"image '{image}' has the same id '{path.stem}' as image '{other}' (line {other_line}); "
                "ids are file stems and must be unique",
                line=first_line,
            )
        first_use[path.stem] = (image, first_line)
        landmarks = np.full((len(names), 2), np.nan, dtype=np.float32)
        landmarks[[index_of[name] for name in rows["landmark"]]] = rows[["x", "y"]].to_numpy(np.float32)
        spacing = rows[SPACING_COLUMN].dropna()
        labels = {name: float(given.iloc[0]) for name in label_columns if len(given := rows[name].dropna())}
        records.append(
            LandmarkRecord(
                image_id=path.stem,
                landmarks=landmarks,
                spacing_mm=float(spacing.iloc[0]) if len(spacing) else None,
                image_path=path,
                labels=labels,
            )
        )
    if not records:
        raise DataError(csv_path, "no landmark rows")
    _warn_unreferenced(root, {record.image_path for record in records})
    records.sort(key=lambda record: record.image_id)
    return LandmarkSet(names=names, records=records, source="folder")


def parse_landmark_csv(text: str, csv_path: Path) -> pd.DataFrame:
    """Validate the CSV text: columns image, landmark, x, y (float), spacing_mm (float or NaN), line."""
    try:
        # header=None keeps every row, so row i is file line i + 1 and a row
        # with too many fields is an error (with a header pandas would quietly
        # turn the extra field into an index).
        raw = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        header = f"{','.join(REQUIRED_COLUMNS)}[,{SPACING_COLUMN}]"
        raise DataError(csv_path, f"empty CSV; expected the header {header}") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as error:
        raise DataError(csv_path, f"malformed CSV: {_parser_message(error)}", line=_parser_line(error)) from None

    header = [str(cell).strip().lower() for cell in raw.iloc[0]]
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise DataError(csv_path, f"missing column '{column}' (header has: {', '.join(header)})", line=1)
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise DataError(csv_path, f"column '{duplicated[0]}' appears more than once", line=1)

    table = raw.iloc[1:].copy()
    table.columns = header
    table = table.apply(lambda column: column.str.strip())
    table["line"] = np.arange(2, len(table) + 2)
    table = table[(table[list(REQUIRED_COLUMNS)] != "").any(axis=1)]  # blank lines
    if SPACING_COLUMN not in table.columns:
        table[SPACING_COLUMN] = ""

    for column in ("image", "landmark"):
        _fail_on_first(table, table[column] == "", csv_path, lambda row: f"empty '{column}'")
    for column in ("x", "y"):
        values = pd.to_numeric(table[column], errors="coerce")
        _fail_on_first(table, table[column] == "", csv_path, lambda row: f"{column} is empty")
        _fail_on_first(
            table, ~np.isfinite(values), csv_path, lambda row: f"{column} is not a finite number: {row[column]!r}"
        )
        _fail_on_first(table, values < 0, csv_path, lambda row: f"{column} is negative: {row[column]}")
        table[column] = values.astype(np.float64)

    spacing = pd.to_numeric(table[SPACING_COLUMN].replace("", np.nan), errors="coerce")
    given = table[SPACING_COLUMN] != ""
    _fail_on_first(
        table, given & ~(np.isfinite(spacing) & (spacing > 0)), csv_path,
        lambda row: f"spacing_mm must be a positive number of mm per pixel, got {row[SPACING_COLUMN]!r}",
    )
    table[SPACING_COLUMN] = spacing
    # Unnamed columns (a trailing comma on every line) are not labels.
    labels = [column for column in table.columns if column and column not in (*REQUIRED_COLUMNS, SPACING_COLUMN, "line")]
    for column in labels:
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        _fail_on_first(table, (table[column] != "") & ~np.isfinite(values), csv_path,
                       lambda row: f"label '{column}' is not a finite number: {row[column]!r}")
        first = values.groupby(table["image"]).transform("first")
        _fail_on_first(table, values.notna() & (values != first), csv_path,
                       lambda row: f"image '{row['image']}' has a different '{column}' on this row than on its earlier rows")
        table[column] = values

    _fail_on_first(
        table, table.duplicated(["image", "landmark"]), csv_path,
        lambda row: f"second row for image '{row['image']}' landmark '{row['landmark']}'",
    )
    first_spacing = table[SPACING_COLUMN].groupby(table["image"]).transform("first")  # first non-empty
    _fail_on_first(
        table, table[SPACING_COLUMN].notna() & (table[SPACING_COLUMN] != first_spacing), csv_path,
        lambda row: f"image '{row['image']}' has a different spacing_mm on this row than on its earlier rows",
    )
    return table[["image", "landmark", "x", "y", SPACING_COLUMN, *labels, "line"]].reset_index(drop=True)


def _fail_on_first(table: pd.DataFrame, bad, csv_path: Path, problem) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        row = table.iloc[int(np.argmax(bad))]
        raise DataError(csv_path, problem(row), line=int(row["line"]))


def _parser_message(error: Exception) -> str:
    return str(error).replace("Error tokenizing data. C error: ", "").strip()


def _parser_line(error: Exception) -> int | None:
    message = str(error)
    if match := re.search(r"\bline (\d+)", message):
        return int(match.group(1))
    if match := re.search(r"\brow (\d+)", message):  # pandas counts rows from 0
        return int(match.group(1)) + 1
    return None


def _read_text(csv_path: Path) -> str:
    if not csv_path.is_file():
        raise DataError(csv_path, "landmark CSV not found")
    try:
        return csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(csv_path, f"not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise DataError(csv_path, f"cannot read: {error.strerror or error}") from error


def _single_csv(root: Path) -> Path:
    found = sorted(p for p in root.glob("*.csv") if p.is_file() and not p.name.startswith("."))
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(root, f"no *.csv with columns {','.join(REQUIRED_COLUMNS)} in this folder; pass the CSV path")
    raise DataError(root, f"{len(found)} CSV files ({', '.join(p.name for p in found)}); pass the one to use")


def _resolve_image(root: Path, image: str, csv_path: Path, line: int) -> Path:
    path = root / image
    if path.is_file():
        return path
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        for suffix in IMAGE_SUFFIXES:
            for candidate in (path.with_name(path.name + suffix), path.with_name(path.name + suffix.upper())):
                if candidate.is_file():
                    return candidate
    raise DataError(csv_path, f"image '{image}' not found (looked for {path})", line=line)


def _warn_unreferenced(root: Path, used: set[Path]) -> None:
    # An image with no rows is skipped, not fatal: folders often hold
    # unlabelled images too; the warning says which were left out.
    folders = {root} | {path.parent for path in used}
    unused = sorted(
        str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        for folder in folders
        for path in list_images(folder)
        if path not in used
    )
    if unused:
        shown = ", ".join(unused[:5]) + (f", ... ({len(unused) - 5} more)" if len(unused) > 5 else "")
        warnings.warn(f"{root}: {len(unused)} image(s) have no rows in the CSV and were skipped: {shown}", stacklevel=3)
