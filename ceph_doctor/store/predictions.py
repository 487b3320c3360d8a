"""The predictions table of the run store: one row per image × landmark of one validation (`PREDICTION_COLUMNS`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def predictions_frame(
    epoch: int,
    step: int,
    split: str,
    decode: str,
    image_ids: Sequence[str],
    names: Sequence[str],
    pred: np.ndarray,
    true: np.ndarray,
    spacing_mm: np.ndarray | float | None,
    peak: np.ndarray | None = None,
    width: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per image × landmark, built with array operations (no Python loop over rows)."""
    pred = np.asarray(pred, np.float32)
    true = np.asarray(true, np.float32)
    count, num_landmarks = pred.shape[:2]
    if len(names) != num_landmarks:
        raise ValueError(f"{len(names)} landmark names for {num_landmarks} predicted landmarks")
    spacing = np.broadcast_to(np.asarray(np.nan if spacing_mm is None else spacing_mm, np.float32), (count,))
    error_px = np.linalg.norm(pred - true, axis=-1)
    missing = np.full((count, num_landmarks), np.nan, np.float32)
    return pd.DataFrame(
        {
            "epoch": np.full(count * num_landmarks, epoch, np.int32),
            "step": np.full(count * num_landmarks, step, np.int64),
            "split": split,
            "decode": decode,
            "image_id": np.repeat(np.asarray(image_ids, dtype=object), num_landmarks),
            "landmark": np.tile(np.asarray(names, dtype=object), count),
            "landmark_index": np.tile(np.arange(num_landmarks, dtype=np.int16), count),
            "pred_x": pred[..., 0].ravel(),
            "pred_y": pred[..., 1].ravel(),
            "true_x": true[..., 0].ravel(),
            "true_y": true[..., 1].ravel(),
            "error_px": error_px.ravel(),
            "error_mm": (error_px * spacing[:, None]).ravel(),
            "peak": (missing if peak is None else np.asarray(peak, np.float32)).ravel(),
            "peak_width": (missing if width is None else np.asarray(width, np.float32)).ravel(),
        }
    )
