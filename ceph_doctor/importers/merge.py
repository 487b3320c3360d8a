"""The parts of one run that different formats read → one `Run`.

A run is often several files: an MMEngine work dir's `scalars.json` and its `.log` (which may carry
per-landmark debug lines the JSON lacks), a Lightning version folder's `metrics.csv` and event files,
an Ultralytics `results.csv` beside TensorBoard events. Every part contributes what the others lack:
the scalars of the highest-priority part are kept whole, and each other part adds the tags they do not
have; predictions from any part are joined. A part is skipped as a duplicate only when it adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ceph_doctor.importers.roles import mean_error_from_predictions
from ceph_doctor.store import layout
from ceph_doctor.store.reader import Run, no_predictions
from ceph_doctor.store.scalars import ScalarTable

# Whose scalars win when several formats read the same tag for one run.
PRIORITY = ("mmengine", "hf", "mlflow", "csv", "tensorboard", "text", "settings")
PREDICTION_KEY = ["epoch", "split", "decode", "image_id", "landmark"]


def merge(run_root: Path, parts: list[tuple[str, Any]]) -> tuple[Run | None, list]:
    """(the run, the SkipNotes of parts that added nothing); (None, []) when no part holds anything."""
    from ceph_doctor.importers import SkipNote

    parts = sorted(parts, key=lambda item: PRIORITY.index(item[0]) if item[0] in PRIORITY else len(PRIORITY))
    used = [(name, part) for name, part in parts if not part.empty]
    if not used:
        return None, []
    settings = [(name, part) for name, part in parts if part.empty and part.manifest.get("config")]
    by_tag: dict = {}
    names, notes, read, skipped, unread = [], [], [], [], []
    predictions = []
    manifest: dict[str, Any] = {"schema_version": layout.SCHEMA_VERSION, "config": {}}
    axis, epoch_offset = "epoch", 0
    scalar_source = next((name for name, part in used if not part.scalars.table.empty), used[0][0])
    for name, part in used:
        table = part.scalars.table
        new_tags = [tag for tag in table.tags if tag not in by_tag]
        has_predictions = part.predictions is not None and not part.predictions.empty
        if by_tag and not new_tags and not has_predictions:
            skipped.extend(SkipNote(file, f"same numbers as {', '.join(map(str, read))}, which was read")
                           for file in part.read)
            continue
        if by_tag and new_tags:
            notes.append(f"from {', '.join(p.name for p in part.read)} ({name}): added {', '.join(new_tags[:6])}"
                         + (f" and {len(new_tags) - 6} more" if len(new_tags) > 6 else "")
                         + (", which the files before lack" if table.tags == new_tags else
                            "; its other tags were read from the files before"))
        for tag in new_tags:
            by_tag[tag] = table.series(tag)
        if has_predictions:
            predictions.append(part.predictions)
        names.extend(row for row in part.scalars.names if row.tag in new_tags or row.tag is None)
        notes.extend(part.notes + part.scalars.notes)
        unread.extend(part.unread)
        read.extend(part.read)
        if name == scalar_source:
            axis, epoch_offset = part.scalars.axis, part.scalars.epoch_offset
        _update_manifest(manifest, part.manifest)
    for _, part in settings:  # saved settings beside the logs: they fill what the logs did not say
        _update_manifest(manifest, part.manifest)
        read.extend(part.read)
    frame = _joined(predictions)
    derived = mean_error_from_predictions(by_tag, frame)
    if derived:
        notes.append(derived)
    manifest.setdefault("status", "imported")
    if len(frame) and "landmarks" not in manifest:
        order = frame.sort_values("landmark_index").drop_duplicates("landmark")
        manifest["landmarks"] = order["landmark"].astype(str).tolist()
    label = next((part.label for _, part in used if part.label), None)
    if label:
        notes.insert(0, label)
    manifest.update(source=scalar_source, files=[str(path) for path in read], axis=axis)
    if epoch_offset:
        manifest["epoch_offset"] = epoch_offset
    return Run(run_root, manifest, ScalarTable(by_tag=by_tag), frame, source=scalar_source, notes=notes,
               names=names, unread=unread), skipped


def _update_manifest(manifest: dict, new: dict) -> None:
    """Later parts fill what earlier ones left empty; configs merge key by key."""
    for key, value in new.items():
        if key == "config" and isinstance(value, dict):
            for section, entries in value.items():
                target = manifest["config"].setdefault(section, {})
                if isinstance(entries, dict) and isinstance(target, dict):
                    for entry, setting in entries.items():
                        target.setdefault(entry, setting)
        elif key not in manifest or not manifest[key]:
            manifest[key] = value


def _joined(predictions: list[pd.DataFrame]) -> pd.DataFrame:
    if not predictions:
        return no_predictions()
    frame = pd.concat(predictions, ignore_index=True) if len(predictions) > 1 else predictions[0]
    # Two files printing the same debug lines (a tee'd stdout beside the log): each point once.
    return frame.drop_duplicates(PREDICTION_KEY, keep="first", ignore_index=True) if len(predictions) > 1 else frame
