"""Text logs with per-landmark debug lines: `pred=(113.00, 61.00) gt=(126.56, 102.67) error=43.82`.

Each such line becomes a prediction row (split `val`) of the epoch named by the last header
line above it (`Epoch 15`, `epoch: 15`, `[Epoch 15/60]`), so the collapse and coordinate signals
can run. Image and landmark come from `image=`/`img`/`file` and `landmark=`/`lm`/`kp` fields
when the line has them; without them each line is one image of one point. Lines such as
`train_loss: 0.12  val_loss: 0.20` give scalars for names the name table knows; the mean
`error=` of each epoch becomes `val/mre_px` when the log names no error metric of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ceph_doctor.importers import Part, non_finite_note, rows_to_columns, scalar_table, to_float
from ceph_doctor.importers.names import CANONICAL, NameMap, normalise
from ceph_doctor.store import layout
from ceph_doctor.store.reader import no_predictions
from ceph_doctor.store.scalars import ScalarTable

NAME = "text"
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|NaN|inf|-inf|Infinity)"
PAIR_OF = r"\s*[=:]\s*[\(\[]\s*(" + NUMBER + r")\s*[, ]\s*(" + NUMBER + r")\s*[\)\]]"
PRED = re.compile(r"\bpred(?:icted|iction)?" + PAIR_OF, re.IGNORECASE)
TRUE = re.compile(r"\b(?:gt|true|target|truth|label)" + PAIR_OF, re.IGNORECASE)
ERROR = re.compile(r"\b(?:error|err|dist|distance)(_px|_mm)?\s*[=:]\s*(" + NUMBER + ")", re.IGNORECASE)
IMAGE = re.compile(r"\b(?:image_id|image|img|file|sample)\s*[=:#]?\s*([\w.\-/]+)", re.IGNORECASE)
LANDMARK = re.compile(r"\b(?:landmark|lm|kpt|kp|keypoint|point|joint)\s*[=:#]?\s*([\w\-]+)", re.IGNORECASE)
EPOCH = re.compile(r"\bepoch\s*[:=#]?\s*\[?\s*(\d+)", re.IGNORECASE)
SCALAR = re.compile(r"([A-Za-z][\w/@.\-]*)\s*[=:]\s*(" + NUMBER + r")(?![\w.])")


def sniff(path: Path, head: bytes) -> bool:
    text = head.decode("utf-8", "replace")
    return any(PRED.search(line) and TRUE.search(line) for line in text.splitlines())


def run_root(path: Path) -> Path:
    return path.parent


def read(files: list[Path], names: NameMap) -> Part:
    part = Part(ScalarTable())
    predictions, rows = [], []
    for file in files:
        file_predictions, file_rows, notes = parse(file.read_text(errors="replace"), names)
        predictions.extend(file_predictions)
        rows.extend(file_rows)
        part.notes.extend(f"{file.name}: {note}" for note in notes)
        part.read.append(file)
    frame = prediction_frame(predictions)
    tags = {row[2] for row in rows}
    if not frame.empty and not tags & {"val/mre_px", "val/mre_mm", "val/nme"}:
        per_epoch = frame.groupby("epoch")["error_px"].mean()
        last_step = frame.groupby("epoch")["step"].max()
        rows.extend((int(last_step[e]), int(e), "val/mre_px", float(v), None) for e, v in per_epoch.items())
        part.notes.append("val/mre_px is the mean error= (or pred–gt distance) of each epoch's debug lines")
    part.scalars = scalar_table([rows_to_columns(rows)])
    part.predictions = frame
    part.notes.extend(non_finite_note(part.scalars))
    return part


def parse(text: str, names: NameMap) -> tuple[list[dict], list[tuple], list[str]]:
    predictions: list[dict] = []
    rows: list[tuple] = []
    epoch: int | None = None
    image: str | None = None
    counter = orphans = broken = 0
    seen_in_image: set[str] = set()
    has_ids = bool(IMAGE.search(text) or LANDMARK.search(text))
    for number, line in enumerate(text.splitlines(), start=1):
        pred = PRED.search(line)
        if pred is None:
            header = EPOCH.search(line)
            if header:
                epoch, image, seen_in_image = int(header.group(1)), None, set()
            found = IMAGE.search(line)
            if found:
                image, seen_in_image = found.group(1), set()
            rows.extend(scalar_rows(line, number, epoch, names))
            continue
        header = EPOCH.search(line)
        if header:
            epoch = int(header.group(1))
        if epoch is None:
            orphans += 1
            continue
        true = TRUE.search(line)
        if true is None:
            broken += 1
            continue
        landmark = LANDMARK.search(line)
        found = IMAGE.search(line)
        name = landmark.group(1) if landmark else None
        if found:
            image = found.group(1)
        elif has_ids and (image is None or (name is not None and name in seen_in_image)):
            counter += 1
            image = f"image-{counter}"  # a landmark seen again: the next image's block began
            seen_in_image = set()
        if not has_ids:
            counter += 1
            image, name = f"line-{counter}", "point"
        name = name or f"point-{len(seen_in_image)}"
        seen_in_image.add(name)
        px, py = float(pred.group(1)), float(pred.group(2))
        tx, ty = float(true.group(1)), float(true.group(2))
        error = ERROR.search(line[pred.end():]) or ERROR.search(line)
        error_px = to_float(error.group(2)) if error and (error.group(1) or "").lower() != "_mm" else None
        predictions.append({
            "epoch": epoch, "step": number, "image_id": image, "landmark": name,
            "pred_x": px, "pred_y": py, "true_x": tx, "true_y": ty,
            "error_px": error_px if error_px is not None else float(np.hypot(px - tx, py - ty)),
        })
    notes = [f"skipped {orphans} pred= line(s) before any epoch header"] if orphans else []
    if broken:
        notes.append(f"skipped {broken} pred= line(s) without a readable gt=(x, y)")
    if predictions and not has_ids:
        notes.append("pred= lines name no image or landmark: each line taken as one image of one point")
    return predictions, rows, notes


def scalar_rows(line: str, number: int, epoch: int | None, names: NameMap) -> list[tuple]:
    rows = []
    for key, value in SCALAR.findall(line):
        known = key in names.user or normalise(key) in CANONICAL
        if known and normalise(key) != "epoch":
            rows.append((number, epoch, names.tag(key), float(value), None))
    return rows


def prediction_frame(predictions: list[dict]) -> pd.DataFrame:
    if not predictions:
        return no_predictions()
    frame = pd.DataFrame(predictions)
    order = {name: index for index, name in enumerate(dict.fromkeys(frame["landmark"]))}
    frame["landmark_index"] = frame["landmark"].map(order).astype("int64")
    frame["split"], frame["decode"] = "val", "heatmap"
    frame["error_mm"] = np.nan
    frame["peak"] = np.nan
    frame["peak_width"] = np.nan
    frame["epoch"] = frame["epoch"].astype("int64")
    return frame[list(layout.PREDICTION_COLUMNS)]
