"""Where each part of a run lives on disk, and the schema version that names the layout.

    RUN/manifest.json            schema version, config, landmarks, dataset, status
    RUN/scalars.csv              append-only: step, epoch, tag, value, wall_time
    RUN/predictions/*.parquet    one file per validation, one row per image × landmark
    RUN/tensorboard/             event files for TensorBoard
    RUN/checkpoints/*.pth        weights-only checkpoints with config and metrics
    RUN/doctor.jsonl             what the live doctor told, one event per line (found, cleared, stopped)
"""

from __future__ import annotations

from pathlib import Path

SCHEMA_VERSION = 1

MANIFEST = "manifest.json"
SCALARS = "scalars.csv"
PREDICTIONS = "predictions"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
DOCTOR = "doctor.jsonl"

SCALAR_COLUMNS = ("step", "epoch", "tag", "value", "wall_time")

PREDICTION_COLUMNS = (
    "epoch",
    "step",
    "split",  # "val", or "train" for the fixed training subset
    "decode",  # "heatmap" | "teacher_forced" | "autoregressive"
    "image_id",
    "landmark",
    "landmark_index",
    "pred_x",
    "pred_y",
    "true_x",
    "true_y",
    "error_px",
    "error_mm",
    "peak",
    "peak_width",
)


def prediction_file(run_dir: Path, epoch: int, decode: str = "heatmap") -> Path:
    suffix = "" if decode == "heatmap" else f"-{decode}"
    return run_dir / PREDICTIONS / f"epoch-{epoch:05d}{suffix}.parquet"
