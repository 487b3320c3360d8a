"""Scalars a log implies without naming them, derived from what it did log.

- The training (or validation) loss, when only its parts were logged: Ultralytics logs
  `train/box_loss`, `train/pose_loss`… and no total; the loss optimised is their sum (one part alone
  is the loss itself).
- The trainable fraction, from a count of trainable parameters and a total (or a frozen count).
- The mean radial error in px of each validation, from per-landmark predictions, when the run logged
  no landmark error of its own (debug prints, a CSV of predictions).

Each derivation is said in the run's notes, so a reader knows which numbers were computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ceph_doctor.store.meaning import parse
from ceph_doctor.store.scalars import TagSeries, last_per

if TYPE_CHECKING:
    import pandas as pd

LOCALISATION = ("mre", "epe", "nme", "pck", "sdr")


def derive(by_tag: dict[str, TagSeries]) -> list[str]:
    """Add the derived series to `by_tag` in place; the notes saying what was derived."""
    notes = []
    for split in ("train", "val"):
        note = _loss_from_parts(by_tag, f"{split}/loss")
        if note:
            notes.append(note)
    note = _trainable_fraction(by_tag)
    if note:
        notes.append(note)
    return notes


def _loss_from_parts(by_tag: dict[str, TagSeries], total: str) -> str | None:
    parts = sorted(tag for tag in by_tag if tag.startswith(total + "/"))
    if total in by_tag or not parts:
        return None
    if len(parts) == 1:
        by_tag[total] = by_tag[parts[0]]
        return f"{total} is the one loss logged for it, {parts[0]}"
    steps = None
    for tag in parts:
        logged = np.unique(by_tag[tag].step)
        steps = logged if steps is None else np.intersect1d(steps, logged)
    if steps is None or len(steps) == 0:
        return None
    total_value = np.zeros(len(steps))
    for tag in parts:
        keys, values = last_per(by_tag[tag].step, by_tag[tag].value)
        total_value += values[np.searchsorted(keys, steps)]
    first = by_tag[parts[0]]
    keys, epochs = last_per(first.step, first.epoch)
    by_tag[total] = TagSeries(steps.astype(np.int64), epochs[np.searchsorted(keys, steps)].astype(np.int64),
                              total_value)
    names = ", ".join(tag.rsplit("/", 1)[-1] for tag in parts)
    return f"{total} is the sum of its {len(parts)} logged parts ({names}): no total was logged"


def _trainable_fraction(by_tag: dict[str, TagSeries]) -> str | None:
    if "params/trainable_frac" in by_tag or "params/trainable_count" not in by_tag:
        return None
    trainable = by_tag["params/trainable_count"]
    if "params/total_count" in by_tag:
        total = by_tag["params/total_count"].value[-1]
    elif "params/frozen_count" in by_tag:
        total = trainable.value[-1] + by_tag["params/frozen_count"].value[-1]
    else:
        return None
    if not total > 0:
        return None
    by_tag["params/trainable_frac"] = TagSeries(trainable.step, trainable.epoch, trainable.value / total)
    return f"params/trainable_frac is the trainable parameter count over the total ({trainable.value[-1] / total:.1%})"


def mean_error_from_predictions(by_tag: dict[str, TagSeries], predictions: pd.DataFrame) -> str | None:
    """`val/mre_px` per validation from the prediction rows, unless a landmark error was logged."""
    if predictions.empty or any(parse(tag).quantity in LOCALISATION and parse(tag).split == "val" for tag in by_tag):
        return None
    frame = predictions[predictions["split"] == "val"]
    if frame.empty:
        return None
    grouped = frame.groupby("epoch")
    errors, steps = grouped["error_px"].mean(), grouped["step"].max()
    by_tag["val/mre_px"] = TagSeries(steps.to_numpy(np.int64), errors.index.to_numpy(np.int64),
                                     errors.to_numpy(float))
    return "val/mre_px is the mean pred–truth distance of each validation's predictions (no landmark error was logged)"
