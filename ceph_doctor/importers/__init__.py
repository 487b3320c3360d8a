"""Someone else's logs → `Run`s: TensorBoard, MMEngine and mmcv, Hugging Face, MLflow, CSV, text logs.

`discover(path)` walks a folder, decides each file's format by its content (never its name
alone), groups the files of one run (an MMEngine timestamp folder, a Lightning version_N folder,
any folder of event files) and reads them; the parts of one run read by different formats are
merged (`merge.py`). What it cannot read becomes a `SkipNote` with the reason; what it read
partly is told in `run.notes`. Importers never judge a run.

Each format module has `NAME`, `sniff(path, head) -> bool`, `run_root(path) -> Path` and
`read(files, names) -> Part | list[Part]` (a list when one file holds several runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceph_doctor.folder_walk import MAX_DEPTH, Walk, walk
from ceph_doctor.importers.names import Logged, NameMap
from ceph_doctor.importers.tables import (  # noqa: F401 (the importers' toolkit, re-exported)
    Columns, Scalars, non_finite_note, rows_to_columns, scalar_table, to_float,
)
from ceph_doctor.numbers import plural
from ceph_doctor.store import layout
from ceph_doctor.store.reader import Run
from ceph_doctor.store.scalars import ScalarTable

if TYPE_CHECKING:
    import pandas as pd

HEAD_BYTES = 64 * 1024
# Files we look into; anything else (images, checkpoints) is passed over and counted.
LOG_SUFFIXES = {"", ".json", ".jsonl", ".log", ".txt", ".csv", ".tsv", ".out", ".err", ".yaml", ".yml"}


@dataclass
class SkipNote:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Part:
    """What one format read from the files of one run."""

    scalars: Scalars = field(default_factory=lambda: Scalars(ScalarTable()))
    predictions: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # what of a read file could not be read: every report says it
    read: list[Path] = field(default_factory=list)
    skipped: list[SkipNote] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # "run 2 of 3 in train.log": one of several runs in one file

    @property
    def empty(self) -> bool:
        return self.scalars.table.empty and (self.predictions is None or self.predictions.empty)


def formats():
    from ceph_doctor.importers import csvlog, hf, mlflow, mmengine, settings, tensorboard, textlog

    return [tensorboard, mlflow, hf, mmengine, csvlog, textlog, settings]  # the order in which a file is tried


def discover(path: str | Path, names: NameMap | None = None) -> tuple[list[Run], list[SkipNote]]:
    """Every run of another tool's logs at or under `path`, and each file passed over with why."""
    from ceph_doctor.importers.merge import merge

    names = names or NameMap()
    root = Path(path)
    tree = walk(root) if root.is_dir() else Walk(files=[root])
    files = tree.files
    own_runs = {p.parent for p in files if p.name == layout.MANIFEST}
    groups: dict[tuple[Path, str], list[Path]] = {}
    skipped: list[SkipNote] = [SkipNote(folder, f"not searched: {why}") for folder, why in tree.unreadable]
    if tree.too_deep:
        skipped.append(SkipNote(tree.too_deep[0], f"not searched: {len(tree.too_deep)} {plural(len(tree.too_deep), 'folder')} more than "
                                                  f"{MAX_DEPTH} levels below {root} (no log sits that deep)"))
    passed_over: dict[str, int] = {}
    for file in files:
        if any(part.startswith(".") for part in file.relative_to(root).parts[:-1]) or any(
            run in file.parents for run in own_runs
        ):
            continue
        module, reason = detect(file)
        if module is None:
            if reason is None:
                kind = file.suffix.lower() or "(none)"
                passed_over[kind] = passed_over.get(kind, 0) + 1
            else:
                skipped.append(SkipNote(file, reason))
            continue
        groups.setdefault((module.run_root(file), module.NAME), []).append(file)
    if passed_over:
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in sorted(passed_over.items()))
        skipped.append(SkipNote(root, f"passed over files that are not logs ({kinds})"))
    by_root: dict[Path, list[tuple[str, Part]]] = {}
    runs: list[Run] = []
    modules = {module.NAME: module for module in formats()}
    for (run_root, name), group in sorted(groups.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        try:
            read = modules[name].read(sorted(group), names)
        except Exception as error:  # noqa: BLE001 — one unreadable run must not stop the others
            skipped.extend(SkipNote(file, f"unreadable as {name} ({type(error).__name__}: {error})") for file in group)
            continue
        parts = read if isinstance(read, list) else [read]
        for part in parts:
            skipped.extend(part.skipped)
        if len(parts) > 1:  # one file, several runs: each its own run, never merged with others
            for index, part in enumerate(parts, start=1):
                run, _ = merge(Path(f"{part.read[0]}#{index}"), [(name, part)])
                if run is not None:
                    runs.append(run)
            continue
        by_root.setdefault(run_root, []).append((name, parts[0]))
    for run_root, parts in by_root.items():
        run, duplicates = merge(run_root, parts)
        if run is None:
            skipped.extend(SkipNote(file, "settings, with no log of a run beside them" if name == "settings"
                                    else f"read as {name}, but it holds no scalars or predictions")
                           for name, part in parts for file in part.read)
        else:
            runs.append(run)
        skipped.extend(duplicates)
    for run in runs:
        declared = names.declared_monitor(run.tags)
        if declared:  # the user's --map onto a validation metric says which one matters
            run.manifest["monitor"] = declared
    return runs, skipped


def detect(file: Path):
    """(format module, None) for a readable log; (None, reason) for a log-like file we cannot read;
    (None, None) for a file that is plainly not a log (an image, a checkpoint)."""
    is_event = "tfevents" in file.name
    in_mlflow = "mlruns" in file.parts or file.parent.name in ("metrics", "params", "tags")
    if file.suffix.lower() not in LOG_SUFFIXES and not is_event and not in_mlflow:
        return None, None
    try:
        with file.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as error:
        return None, f"cannot open ({error.strerror or error})"
    if not head and not in_mlflow:
        return None, "empty file"
    for module in formats():
        try:
            if module.sniff(file, head):
                return module, None
        except Exception:  # noqa: BLE001 — a sniffer that trips over odd bytes just says no
            continue
    if in_mlflow and file.parent.name in ("params", "tags") or file.suffix.lower() in (".yaml", ".yml"):
        return None, None  # read with its run's metrics; a YAML file that holds no settings is no log
    if b"\x00" in head[:4096] and not is_event:
        return None, None if file.suffix == "" else "binary content, not a log format ceph-doctor reads"
    return None, describe_unknown(file, head)


def describe_unknown(file: Path, head: bytes) -> str:
    text = head.decode("utf-8", "replace").lstrip()
    if "tfevents" in file.name:
        return "named like a TensorBoard event file but holds no readable event record"
    if text.startswith(("{", "[")):
        return ("JSON, but none of the layouts read (MMEngine/mmcv scalar lines, Hugging Face trainer_state.json, "
                "JSON lines with pred/gt)")
    first = text.splitlines()[0] if text else ""
    if "," in first or "\t" in first:
        return "CSV-like, but no header with an epoch or step column and a numeric metric"
    return ("text, but no epoch or step markers with metric values (`Epoch 3 ... loss: 0.1`, `epoch=3 loss=0.1`), "
            "no progress bars with metrics, and no pred=(x, y) gt=(x, y) lines")


__all__ = ["Columns", "Logged", "NameMap", "Part", "Scalars", "SkipNote", "detect", "discover", "formats",
           "non_finite_note", "rows_to_columns", "scalar_table", "to_float"]
