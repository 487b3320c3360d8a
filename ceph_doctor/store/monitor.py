"""Which metric a run is judged on, which way is better, and where it was best: decided here only.

The trainer's early stopping, the importers, the signals and every report ask this module, so they
can never name different metrics or best epochs for one run.

The choice, first that applies:
1. a metric the run declares (ceph-doctor's own trainer; a log that names the metric it kept the best
   checkpoint on; the user's `--map` onto a validation metric);
2. else the validation metric that says most about landmark accuracy, ranked by what its name means
   (`store.meaning`): a radial error in mm, then px, end-point error, NME, PCK, AUC, SDR, keypoint AP/AR,
   any error, then AP, AR, IoU/Dice, F1, accuracy…; the keypoint variant of a metric before the box variant;
   the per-epoch value before a per-step one; never a running best (`best_val_acc`);
3. else the validation loss;
4. else none: the run cannot be judged on a metric, and reports say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ceph_doctor.store.meaning import BOUNDED, Meaning, parse

# Lower is preferred. A quantity missing here is never monitored.
_QUANTITY_RANK = {
    ("mre", "mm"): 0, ("mre", "px"): 1, ("mre", None): 2, ("mre", "norm"): 2, ("epe", None): 3, ("epe", "px"): 3,
    ("nme", None): 4, ("pck", None): 5, ("pck", "%"): 5, ("auc", None): 6, ("sdr", "mm"): 7, ("sdr", "%"): 7,
    ("error", None): 10, ("error", "norm"): 10, ("ap", None): 11, ("ar", None): 12, ("iou", None): 13,
    ("dice", None): 13, ("f1", None): 14, ("acc", None): 15, ("acc", "%"): 15, ("mae", None): 17,
    ("rmse", None): 17, ("mse", None): 17, ("mae", "norm"): 17, ("mse", "norm"): 17, ("fitness", None): 18,
    ("precision", None): 19, ("recall", None): 19, ("loss", None): 30,
}
_KEYPOINT_WORDS = {"kpt", "pose", "keypoint", "landmark", "points"}
_OTHER_TASK_WORDS = {"box", "mask", "bbox", "seg", "cls", "obj", "aux"}
_STANDARD_THRESHOLDS = {"ap": ("50-95", None), "ar": ("50-95", None), "pck": ("0.05", None), "sdr": ("2", "2.0")}


@dataclass(frozen=True)
class Monitor:
    metric: str  # the tag
    mode: str  # "min" | "max"
    why: str  # how it was chosen, said in reports

    def better(self, value: float, than: float) -> bool:
        """Strictly better in the metric's direction; a NaN best so far is beaten by any finite value."""
        if not np.isfinite(value):
            return False
        if not np.isfinite(than):
            return True
        return value < than if self.mode == "min" else value > than


def rank(meaning: Meaning) -> tuple | None:
    """Sort key of a validation metric (lower is preferred); None for a name never monitored."""
    if meaning.split != "val" or meaning.aggregation == "best" or {"best", "max", "min"} & set(meaning.subject):
        return None
    unit = meaning.unit if meaning.unit != "%" or meaning.quantity in ("pck", "sdr", "acc") else None
    quantity_rank = _QUANTITY_RANK.get((meaning.quantity, unit), _QUANTITY_RANK.get((meaning.quantity, None)))
    if quantity_rank is None:
        return None
    subject = set(meaning.subject)
    keypoint = bool(subject & _KEYPOINT_WORDS)
    if meaning.quantity in ("ap", "ar") and keypoint:
        quantity_rank = 8  # keypoint AP/AR (pose models): right after the landmark-specific metrics
    standard = _STANDARD_THRESHOLDS.get(meaning.quantity, (None,))
    return (
        quantity_rank,
        bool(subject & _OTHER_TASK_WORDS) and not keypoint,
        meaning.threshold not in standard,
        meaning.decode == "tf",  # a sequence model is judged on what inference does
        meaning.aggregation == "step",
        len(subject - _KEYPOINT_WORDS),
        meaning.name,
    )


def choose(tags: Iterable[str], declared: dict | None = None) -> Monitor | None:
    """The monitored metric among `tags` (those with values), given what the run declares, if anything."""
    tags = list(tags)
    if declared and declared.get("metric") in tags:
        metric = declared["metric"]
        mode = declared.get("mode") or parse(metric).direction
        if mode in ("min", "max"):
            return Monitor(metric, mode, declared.get("why") or "the metric the run itself monitored")
    ranked = sorted((key, tag) for tag in tags if (key := rank(parse(tag))) is not None)
    if not ranked:
        return None
    key, tag = ranked[0]
    meaning = parse(tag)
    why = ("no landmark or task metric was logged: the validation loss" if meaning.quantity == "loss"
           else "the most landmark-specific validation metric logged")
    return Monitor(tag, meaning.direction, why)


def monitor_of(run) -> Monitor | None:
    """The run's monitored metric (cached on the run): only tags with at least one finite value count."""
    if "monitor" not in run.memo:
        with_values = [tag for tag in run.tags if np.isfinite(run.series(tag).value).any()]
        run.memo["monitor"] = choose(with_values, run.manifest.get("monitor"))
    return run.memo["monitor"]


def best_of(epochs: np.ndarray, values: np.ndarray, mode: str) -> tuple[int, float] | None:
    """(epoch, value) of the best finite value, the first one on ties; None when none is finite."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    candidates = np.where(finite, values, np.inf if mode == "min" else -np.inf)
    index = int(np.argmin(candidates) if mode == "min" else np.argmax(candidates))
    return int(epochs[index]), float(values[index])


def epoch_label(run, epoch: int) -> str:
    """A point in training as the run counts it: "epoch 15", or for an iteration-based run (whose epochs
    count validations) "validation 19 (iteration 7600)"."""
    if run.axis != "iteration":
        return f"epoch {epoch}"
    monitor = monitor_of(run)
    rows = run.series(monitor.metric) if monitor is not None else None
    steps = rows.step[rows.epoch == epoch] if rows is not None and len(rows) else []
    return f"validation {epoch}" + (f" (iteration {int(steps[-1])})" if len(steps) else "")


def value_unit(tag: str, values) -> str:
    """How a logged metric's values read (`ceph_doctor.numbers`): "mm" or "px" where its name says so; a score
    on a fixed scale (PCK, SDR, AP…) as a percentage, "share" when its values lie within 0-1 and "%" when they
    run to 100; "" otherwise: a name without a unit (`val_mre`) is not guessed to be in pixels."""
    meaning = parse(tag)
    if meaning.quantity in BOUNDED:  # before the unit: the mm of `sdr_2mm` is its threshold's
        finite = np.abs(np.asarray(values, dtype=float))
        finite = finite[np.isfinite(finite)]
        return "%" if meaning.unit == "%" or (finite.size and finite.max() > 1.0) else "share"
    return meaning.unit if meaning.unit in ("mm", "px") else ""


def image_side(config: dict) -> float | None:
    """The longer side of the input images, in px, from a config's data.input_size (or width and height)."""
    data = (config or {}).get("data") or {}
    size = data.get("input_size")
    sides = size if isinstance(size, (list, tuple)) else [size, data.get("image_width"), data.get("image_height")]
    sides = [float(side) for side in sides if isinstance(side, (int, float)) and not isinstance(side, bool) and side > 0]
    return max(sides) if sides else None


def in_pixels(run, value: float) -> tuple[float, str] | None:
    """A monitored loss or error on coordinates normalised to [0, 1], restated in px of the input image:
    (px, how). Only for a metric whose name says `norm`, or an unlabelled loss/error whose every value is
    below 1, when the run records the image size. A squared error is restated through its root."""
    monitor = monitor_of(run)
    side = image_side(run.config)
    if monitor is None or side is None or not np.isfinite(value):
        return None
    meaning = parse(monitor.metric)
    values = run.series(monitor.metric).value
    unlabelled = meaning.unit is None and meaning.quantity in ("loss", "mae", "mse", "rmse", "error", "mre")
    if not (meaning.unit == "norm" or (unlabelled and len(values) and np.nanmax(np.abs(values)) < 1)):
        return None
    squared = meaning.quantity == "mse" or "mse" in meaning.subject or "l2" in meaning.subject
    pixels = (np.sqrt(abs(value)) if squared else abs(value)) * side
    how = (f"√{value:.3g} × {side:g} px" if squared else f"{value:.3g} × {side:g} px") + \
        (", if it is measured on coordinates normalised to the image" if meaning.unit != "norm" else "")
    return float(pixels), how
