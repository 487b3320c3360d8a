"""Per-landmark predictions as people record them → prediction rows of the run store's shape.

Three shapes besides text debug lines (textlog.py): a CSV of per-image predictions (one row per image ×
landmark, columns such as `epoch,image,landmark,pred_x,pred_y,gt_x,gt_y`), JSON lines with arrays
(`{"epoch": 3, "image": "007", "pred": [[x, y], ...], "gt": [[x, y], ...]}`), and the records the text
parser builds. Columns and keys are recognised by their words, not by one spelling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ceph_doctor.store import layout
from ceph_doctor.store.reader import no_predictions

PRED_WORDS = {"pred", "predicted", "prediction", "predictions", "output", "out", "est", "estimated", "hat"}
TRUE_WORDS = {"gt", "true", "truth", "target", "label", "labels", "groundtruth", "ground", "annotation", "ref"}
IMAGE_WORDS = {"image", "img", "image_id", "img_id", "file", "filename", "sample", "image_name", "img_name", "case"}
LANDMARK_WORDS = {"landmark", "kpt", "keypoint", "point", "lm", "joint", "landmark_name", "kpt_name", "name",
                  "part", "landmark_id", "kpt_id", "keypoint_id", "point_id", "idx", "landmark_index", "k"}


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name.strip())
    return set(re.findall(r"[a-z]+|\d+", spaced.lower()))


def prediction_columns(names: list[str]) -> dict[str, str] | None:
    """{role: column} for a table of predictions (roles pred_x, pred_y, true_x, true_y, image, landmark,
    epoch), or None when the columns do not hold both a predicted and a true x and y."""
    roles: dict[str, str] = {}
    for name in names:
        words = _words(name)
        axis = "x" if "x" in words else "y" if "y" in words else None
        if axis and words & PRED_WORDS:
            roles.setdefault(f"pred_{axis}", name)
        elif axis and words & TRUE_WORDS:
            roles.setdefault(f"true_{axis}", name)
        elif "epoch" in words and len(words) <= 2:
            roles.setdefault("epoch", name)
        elif name.strip().lower() in IMAGE_WORDS or words & {"image", "img", "file", "filename"}:
            roles.setdefault("image", name)
        elif name.strip().lower() in LANDMARK_WORDS or words & {"landmark", "kpt", "keypoint", "joint"}:
            roles.setdefault("landmark", name)
    needed = {"pred_x", "pred_y", "true_x", "true_y"}
    return roles if needed <= set(roles) else None


def predictions_table(file: Path, roles: dict[str, str], delimiter: str) -> tuple[pd.DataFrame, list[str]]:
    """A CSV of per-image predictions (its `prediction_columns` roles) as prediction rows."""
    table = pd.read_csv(file, sep=delimiter, skipinitialspace=True, on_bad_lines="skip")
    table.columns = [str(column).strip() for column in table.columns]
    numbers = {role: pd.to_numeric(table[column], errors="coerce") for role, column in roles.items()
               if role.startswith(("pred", "true"))}
    bad = int(sum(series.isna().sum() for series in numbers.values()))
    epoch = pd.to_numeric(table[roles["epoch"]], errors="coerce") if "epoch" in roles else pd.Series(1, index=table.index)
    records = pd.DataFrame({
        "epoch": epoch,
        "image_id": table[roles["image"]].astype(str) if "image" in roles else table.index.astype(str),
        "landmark": table[roles["landmark"]].astype(str) if "landmark" in roles else "point",
        **numbers,
    }).dropna(subset=["epoch"])
    notes = [f"skipped {bad} prediction cell(s) that are not numbers"] if bad else []
    if "epoch" not in roles:
        notes.append("a predictions table without an epoch column: read as one validation")
    return prediction_frame(records.to_dict("records")), notes


def json_predictions(record: dict[str, Any], line: int) -> list[dict]:
    """The rows of one JSON record holding arrays of predicted and true points ([] if it holds none)."""
    pred_key = next((key for key in record if _words(str(key)) & PRED_WORDS and _is_points(record[key])), None)
    true_key = next((key for key in record if _words(str(key)) & TRUE_WORDS and _is_points(record[key])), None)
    if pred_key is None or true_key is None or len(record[pred_key]) != len(record[true_key]):
        return []
    epoch = next((record[key] for key in record if _words(str(key)) == {"epoch"}), None)
    image = next((record[key] for key in record if str(key).lower() in IMAGE_WORDS), None)
    names = next((record[key] for key in record if str(key).lower() in ("landmarks", "names", "landmark_names",
                                                                        "keypoint_names", "kpt_names")), None)
    rows = []
    for index, (pred, true) in enumerate(zip(record[pred_key], record[true_key])):
        name = names[index] if isinstance(names, list) and index < len(names) else f"point-{index}"
        rows.append({"epoch": epoch, "step": line, "image_id": str(image if image is not None else f"line-{line}"),
                     "landmark": str(name), "pred_x": float(pred[0]), "pred_y": float(pred[1]),
                     "true_x": float(true[0]), "true_y": float(true[1])})
    return rows


def _is_points(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(p, (list, tuple)) and len(p) >= 2 and all(isinstance(c, (int, float)) for c in p[:2])
                    for p in value))


def document_predictions(record: Any, line: int = 0) -> list[dict]:
    """The rows of one JSON document: a record of one image, a record of several (`pred` as images ×
    landmarks × 2, with an `images` list), or a list of such records."""
    if isinstance(record, list):
        return [row for index, item in enumerate(record) for row in document_predictions(item, line + index)]
    if not isinstance(record, dict):
        return []
    pred_key = next((key for key in record if _words(str(key)) & PRED_WORDS), None)
    true_key = next((key for key in record if _words(str(key)) & TRUE_WORDS), None)
    per_image = (pred_key and true_key and isinstance(record[pred_key], list) and record[pred_key]
                 and _is_points(record[pred_key][0]) and isinstance(record[true_key], list))
    if not per_image:
        return json_predictions(record, line)
    images = next((record[key] for key in record if str(key).lower() in ("images", "image_ids", "files", "ids")), None)
    rows = []
    for index, (pred, true) in enumerate(zip(record[pred_key], record[true_key])):
        image = images[index] if isinstance(images, list) and index < len(images) else f"image-{index}"
        one = {key: value for key, value in record.items() if key not in (pred_key, true_key)}
        rows += json_predictions({**one, "image": image, pred_key: pred, true_key: true}, line)
    return rows


def jsonl_predictions(file: Path) -> tuple[pd.DataFrame, list[str]] | None:
    """JSON lines, or one JSON document, of per-image predictions; None when none holds pred/gt arrays."""
    text = file.read_text(errors="replace")
    try:
        rows = [row for row in document_predictions(json.loads(text), 1) if row["epoch"] is not None]
        if rows:
            return prediction_frame(rows), []
    except (ValueError, RecursionError):
        pass  # not one document: JSON lines
    rows: list[dict] = []
    bad = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        rows.extend(document_predictions(record, number))
    rows = [row for row in rows if row["epoch"] is not None]
    if not rows:
        return None
    return prediction_frame(rows), [f"skipped {bad} line(s) that are not JSON"] if bad else []


def prediction_frame(predictions: list[dict]) -> pd.DataFrame:
    """Records with epoch, image_id, landmark, pred_x/y, true_x/y (optionally step, error_px) → rows."""
    if not predictions:
        return no_predictions()
    frame = pd.DataFrame(predictions)
    order = {name: index for index, name in enumerate(dict.fromkeys(frame["landmark"]))}
    frame["landmark_index"] = frame["landmark"].map(order).astype("int64")
    frame["split"], frame["decode"] = "val", "heatmap"
    if "step" not in frame:
        frame["step"] = np.arange(len(frame))
    distance = np.hypot(frame["pred_x"] - frame["true_x"], frame["pred_y"] - frame["true_y"])
    frame["error_px"] = frame["error_px"].fillna(distance) if "error_px" in frame else distance
    for column in ("error_mm", "peak", "peak_width"):
        if column not in frame:
            frame[column] = np.nan
    frame["epoch"] = frame["epoch"].astype("int64")
    return frame[list(layout.PREDICTION_COLUMNS)]
