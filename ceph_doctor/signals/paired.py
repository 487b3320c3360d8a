"""Per-landmark change between two sets of predictions on the same images: a paired test over images.

A landmark is called improved or regressed only when the Wilcoxon signed-rank
test over images (each image is its own pair: the same anatomy seen both ways)
rejects "no change" after the Benjamini–Hochberg false-discovery control
across landmarks. With 19 landmarks tested at once, about one would pass an
uncorrected 5 % test by chance alone; the correction keeps that noise from
being reported as a change. Two checkpoints (`ceph-doctor compare`) and a
model with and without test-time augmentation are judged by the same test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ceph_doctor.metrics import point_errors

if TYPE_CHECKING:
    import pandas as pd

FALSE_DISCOVERY_RATE = 0.05
IMPROVED, REGRESSED, UNCHANGED = "improved", "regressed", "no evidence of change"


@dataclass
class LandmarkChanges:
    unit: str  # "mm" when every image's pixel spacing is known, else "px"
    # index: landmark; images, error_a, error_b, delta, relative, p_value, se_a, se_b, p_adjusted, verdict
    table: "pd.DataFrame"
    overall: dict[str, float]  # the same measures over per-image mean errors

    def named(self, verdict: str) -> list[str]:
        return list(self.table.index[self.table["verdict"] == verdict])

    @property
    def improved(self) -> list[str]:
        return self.named(IMPROVED)

    @property
    def regressed(self) -> list[str]:
        return self.named(REGRESSED)


def paired_errors(true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                  spacing_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(N, K) radial errors of A and B, in mm when every image's spacing is known (as the metrics do)."""
    errors_a, errors_b = point_errors(pred_a, true), point_errors(pred_b, true)
    spacing = np.asarray(spacing_mm, np.float64)
    if len(spacing) and np.all(np.isfinite(spacing)) and np.all(spacing > 0):
        return errors_a * spacing[:, None], errors_b * spacing[:, None], "mm"
    return errors_a, errors_b, "px"


def landmark_changes(errors_a: np.ndarray, errors_b: np.ndarray, names: list[str], unit: str,
                     rate: float = FALSE_DISCOVERY_RATE) -> LandmarkChanges:
    import pandas as pd  # here, as scipy below: only runs with a step to judge (TTA, refinement) need them

    rows = []
    for k, name in enumerate(names):
        rows.append({"landmark": name, **_paired_summary(errors_a[:, k], errors_b[:, k])})
    table = pd.DataFrame(rows).set_index("landmark")
    table["p_adjusted"] = _benjamini_hochberg(table["p_value"].to_numpy())
    table["verdict"] = [
        _verdict(delta, p, rate) for delta, p in zip(table["delta"], table["p_adjusted"])
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image with no visible landmark is a NaN mean
        per_image_a, per_image_b = np.nanmean(errors_a, axis=1), np.nanmean(errors_b, axis=1)
    overall = _paired_summary(per_image_a, per_image_b)
    overall["verdict"] = _verdict(overall["delta"], overall["p_value"], rate)
    return LandmarkChanges(unit, table, overall)


def _paired_summary(a: np.ndarray, b: np.ndarray) -> dict:
    """Mean error of each side over images where both are measured, B − A, and the signed-rank p-value."""
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    mean_a = float(np.mean(a)) if len(a) else np.nan
    mean_b = float(np.mean(b)) if len(b) else np.nan
    with np.errstate(invalid="ignore"):
        delta = mean_b - mean_a
        relative_change = delta / mean_a if mean_a > 0 else np.nan
    return {"images": int(both.sum()), "error_a": mean_a, "error_b": mean_b, "delta": delta,
            "relative": relative_change, "p_value": signed_rank_p(a, b),
            "se_a": _standard_error(a), "se_b": _standard_error(b)}


def _standard_error(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else np.nan


def signed_rank_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of B − A; 1.0 when nothing differs or nothing is measured."""
    # A miss is an infinite error; the test only ranks, so any value above every finite one stands in for it.
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)], [0.0]])
    ceiling = 10.0 * (np.abs(finite).max() + 1.0)
    differences = np.nan_to_num(b, posinf=ceiling) - np.nan_to_num(a, posinf=ceiling)
    if not np.any(differences != 0):
        return 1.0
    from scipy import stats  # here, not at the top: scipy.stats alone costs `analyze` most of its start-up

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when ties force the normal approximation
        return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    adjusted = np.full(len(p_values), np.nan)
    tested = ~np.isnan(p_values)
    if tested.any():
        from scipy import stats

        adjusted[tested] = stats.false_discovery_control(p_values[tested], method="bh")
    return adjusted


def _verdict(delta: float, p_adjusted: float, rate: float) -> str:
    if not p_adjusted < rate or np.isnan(delta):  # NaN: both sides miss, or nothing measured
        return UNCHANGED
    return REGRESSED if delta > 0 else IMPROVED if delta < 0 else UNCHANGED
