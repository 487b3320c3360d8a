"""The spread of A's and B's predictions across images (their per-landmark deltas: `signals/paired.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ceph_doctor.signals.predictions import COLLAPSED_SPREAD, spread_ratios
from ceph_doctor.store.columns import PredictionTable
from ceph_doctor.store.predictions import predictions_frame


@dataclass
class Spread:
    """Per landmark: spread of predictions across images over the truth's (1 = follows the anatomy, 0 = one point)."""

    table: pd.DataFrame  # index: landmark; columns spread_a, spread_b
    median_a: float
    median_b: float

    def collapsed(self, side: str) -> list[str]:
        column = self.table[f"spread_{side}"]
        return list(column.index[column < COLLAPSED_SPREAD])


def prediction_spread(image_ids: list[str], names: list[str], true: np.ndarray,
                      pred_a: np.ndarray, pred_b: np.ndarray) -> Spread:
    """The collapse measure of `ceph_doctor.signals.predictions`, for each side on the same images."""
    columns = {}
    for side, pred in (("a", pred_a), ("b", pred_b)):
        frame = predictions_frame(0, 0, "val", "heatmap", image_ids, names, pred, true, None)
        _, landmarks, ratios = spread_ratios(PredictionTable.from_frame(frame))
        columns[f"spread_{side}"] = pd.Series(ratios[0] if len(ratios) else np.nan, index=landmarks).reindex(names)
    table = pd.DataFrame(columns)
    table.index.name = "landmark"
    return Spread(table, float(table["spread_a"].median()), float(table["spread_b"].median()))
