"""Someone else's logs → `Run`: TensorBoard event files, MMEngine work dirs, CSV, text with pred=/gt= lines.

`discover(path)` walks a folder, decides each file's format by its content (never its name
alone), groups the files of one run (an MMEngine timestamp folder, a Lightning version_N
folder, any folder of event files) and reads them. What it cannot read becomes a `SkipNote`
with the reason; what it read partly is told in `run.notes`. Importers never judge a run.

Each format module has `NAME`, `sniff(path, head) -> bool`, `run_root(path) -> Path` and
`read(files, names) -> Part`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ceph_doctor.importers.names import NameMap
from ceph_doctor.store import layout
from ceph_doctor.store.reader import Run, no_predictions
from ceph_doctor.store.scalars import ScalarTable, TagSeries

HEAD_BYTES = 64 * 1024
# Files we look into; anything else (images, checkpoints) is passed over and counted.
LOG_SUFFIXES = {"", ".json", ".jsonl", ".log", ".txt", ".csv", ".tsv", ".out"}


@dataclass
class SkipNote:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Part:
    """What one format read from the files of one run."""

    scalars: ScalarTable
    predictions: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    read: list[Path] = field(default_factory=list)
    skipped: list[SkipNote] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def formats():
    from ceph_doctor.importers import csvlog, mmengine, tensorboard, textlog

    return [tensorboard, mmengine, csvlog, textlog]  # the order in which a file is tried


def to_float(text: Any) -> float | None:
    """A logged number, NaN and ±inf included; None for anything that is not a number."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    try:
        return float(str(text).strip())
    except (TypeError, ValueError):
        return None


# What an importer read: tag → (step, epoch, value) as float arrays, epoch NaN where the log has none.
Columns = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def rows_to_columns(rows: list[tuple]) -> Columns:
    """rows of (step, epoch | None, tag, value, wall_time | None) → columns by tag."""
    by_tag: dict[str, list[tuple]] = {}
    for step, epoch, tag, value, _ in rows:
        number = to_float(step)
        by_tag.setdefault(tag, []).append((np.nan if number is None else number,
                                           np.nan if epoch is None else epoch, value))
    return {tag: tuple(np.array(column, dtype=float) for column in zip(*found)) for tag, found in by_tag.items()}


def scalar_table(files: list[Columns], zero_based: bool = False) -> ScalarTable:
    """Columns of one or more files → the run's scalars, tag by tag in step order.

    Epochs the log did not give are inferred from the validation steps (`infer_epoch`). With
    `zero_based`, a log whose epochs start at 0 (Lightning, most scripts) is shifted to start at
    1 like ours. Rows without a finite step are dropped.
    """
    joined = {}
    for tag in sorted({tag for columns in files for tag in columns}):
        parts = [columns[tag] for columns in files if tag in columns]
        step, epoch, value = (np.concatenate([part[i] for part in parts]) for i in range(3))
        keep = np.isfinite(step)
        joined[tag] = (step[keep], epoch[keep], value[keep])
    known = [epoch[np.isfinite(epoch)] for _, epoch, _ in joined.values()]
    known = [epochs for epochs in known if len(epochs)]
    shift = 1 if zero_based and known and min(epochs.min() for epochs in known) == 0 else 0
    val_steps = np.unique(np.concatenate([step for tag, (step, _, _) in joined.items() if tag.startswith("val/")]
                                         or [np.zeros(0)]))
    by_tag = {}
    for tag, (step, epoch, value) in joined.items():
        epoch = np.where(np.isfinite(epoch), epoch + shift, infer_epoch(step, val_steps))
        order = np.argsort(step, kind="stable")
        by_tag[tag] = TagSeries(step[order].astype(np.int64), epoch[order].astype(np.int64), value[order])
    return ScalarTable(by_tag=by_tag)


def infer_epoch(step: np.ndarray, val_steps: np.ndarray) -> np.ndarray:
    """Everything up to and including the n-th validation step (sorted, unique) is epoch n."""
    if len(val_steps) == 0:
        return step.astype(float)
    return np.searchsorted(val_steps, step, side="left").astype(float) + 1


def non_finite_note(table: ScalarTable) -> list[str]:
    bad = {tag: int((~np.isfinite(table.series(tag).value)).sum()) for tag in table.tags}
    bad = {tag: count for tag, count in bad.items() if count}
    if not bad:
        return []
    return [f"kept {sum(bad.values())} non-finite value(s) (NaN/inf) as logged, in {', '.join(sorted(bad)[:5])}"]


def discover(path: str | Path, names: NameMap | None = None) -> tuple[list[Run], list[SkipNote]]:
    """Every run of another tool's logs at or under `path`, and each file passed over with why."""
    names = names or NameMap()
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    own_runs = {p.parent for p in root.rglob(layout.MANIFEST)} if root.is_dir() else set()
    groups: dict[tuple[Path, str], list[Path]] = {}
    skipped: list[SkipNote] = []
    passed_over: dict[str, int] = {}
    for file in files:
        if any(part.startswith(".") for part in file.relative_to(root).parts[:-1]) or any(
            run in file.parents for run in own_runs
        ):
            continue
        module, reason = detect(file)
        if module is None:
            if reason is None:
                passed_over[file.suffix.lower() or "(none)"] = passed_over.get(file.suffix.lower() or "(none)", 0) + 1
            else:
                skipped.append(SkipNote(file, reason))
            continue
        groups.setdefault((module.run_root(file), module.NAME), []).append(file)
    if passed_over:
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in sorted(passed_over.items()))
        skipped.append(SkipNote(root, f"passed over files that are not logs ({kinds})"))
    by_root: dict[Path, list[tuple[str, Part]]] = {}
    modules = {module.NAME: module for module in formats()}
    for (run_root, name), group in sorted(groups.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        try:
            part = modules[name].read(sorted(group), names)
        except Exception as error:  # noqa: BLE001 — one unreadable run must not stop the others
            skipped.extend(SkipNote(file, f"unreadable as {name} ({type(error).__name__}: {error})") for file in group)
            continue
        skipped.extend(part.skipped)
        by_root.setdefault(run_root, []).append((name, part))
    runs = []
    for run_root, parts in by_root.items():
        run = merge(run_root, parts, names)
        if run is None:
            skipped.extend(SkipNote(file, f"read as {name}, but it holds no scalars or predictions")
                           for name, part in parts for file in part.read)
        else:
            runs.append(run)
    return runs, skipped


def detect(file: Path):
    """(format module, None) for a readable log; (None, reason) for a log-like file we cannot read;
    (None, None) for a file that is plainly not a log (an image, a checkpoint)."""
    is_event = "tfevents" in file.name
    if file.suffix.lower() not in LOG_SUFFIXES and not is_event:
        return None, None
    try:
        with file.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as error:
        return None, f"cannot open ({error.strerror or error})"
    if not head:
        return None, "empty file"
    for module in formats():
        try:
            if module.sniff(file, head):
                return module, None
        except Exception:  # noqa: BLE001 — a sniffer that trips over odd bytes just says no
            continue
    if b"\x00" in head[:4096] and not is_event:
        return None, None if file.suffix == "" else "binary content, not a log format ceph-doctor reads"
    return None, describe_unknown(file, head)


def describe_unknown(file: Path, head: bytes) -> str:
    text = head.decode("utf-8", "replace").lstrip()
    if "tfevents" in file.name:
        return "named like a TensorBoard event file but holds no readable event record"
    if text.startswith(("{", "[")):
        return "JSON, but not MMEngine scalar lines (no 'step' with numeric values on each line)"
    if "," in text.splitlines()[0] if text else False:
        return "CSV-like, but no header with an epoch or step column and a numeric metric"
    return "text, but neither MMEngine log lines, a CSV, nor pred=(x, y) gt=(x, y) lines"


PRIORITY = ("mmengine", "tensorboard", "csv", "text")  # whose scalars win when one folder holds several


def merge(run_root: Path, parts: list[tuple[str, Part]], names: NameMap) -> Run | None:
    parts = sorted(parts, key=lambda item: PRIORITY.index(item[0]))
    notes: list[str] = []
    scalar_source = next((name for name, part in parts if not part.scalars.empty), parts[0][0])
    scalars = next(part.scalars for name, part in parts if name == scalar_source)
    predictions = [part.predictions for _, part in parts if part.predictions is not None and len(part.predictions)]
    manifest: dict[str, Any] = {"schema_version": layout.SCHEMA_VERSION, "config": {}, "status": "imported"}
    read: list[str] = []
    for name, part in parts:
        notes.extend(part.notes)
        manifest.update({key: value for key, value in part.manifest.items() if key not in manifest or value})
        read.extend(str(path) for path in part.read)
        if name != scalar_source and not part.scalars.empty:
            notes.append(f"{name} scalars in {run_root} not used: the same run's {scalar_source} scalars were read")
    if scalars.empty and not predictions:
        return None
    frame = (pd.concat(predictions, ignore_index=True) if predictions
             else no_predictions())
    if predictions and "landmarks" not in manifest:
        order = frame.sort_values("landmark_index").drop_duplicates("landmark")
        manifest["landmarks"] = order["landmark"].astype(str).tolist()
    monitor = names.monitor(set(scalars.tags))
    if monitor:
        manifest["monitor"] = monitor
        notes.append(f"monitoring {monitor['metric']} ({'lower' if monitor['mode'] == 'min' else 'higher'} is better)")
    manifest["source"] = scalar_source if not scalars.empty else parts[0][0]
    manifest["files"] = read
    return Run(run_root, manifest, scalars, frame, source=manifest["source"], notes=notes)
