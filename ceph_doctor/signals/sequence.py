"""Signals of decoders that emit landmarks one after another: teacher-forced against autoregressive."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import by_epoch
from ceph_doctor.store.reader import Run

POSITION_PREFIX = "val/error_by_position/"


@signal_family(
    "sequence",
    provides=("sequence.ar_tf_ratio", "sequence.ar_tf_ratio_first", "sequence.error_growth"),
)
def sequence_signals(run: Run):
    teacher, free = by_epoch(run, "val/loss_tf"), by_epoch(run, "val/loss_ar")
    if teacher.empty or free.empty:
        raise MissingInput("teacher-forced and autoregressive validation losses (val/loss_tf, val/loss_ar)")
    epochs, free_values, teacher_values = free.aligned(teacher)
    keep = teacher_values > 0
    epochs, ratio = epochs[keep], free_values[keep] / teacher_values[keep]
    if len(ratio) == 0:
        return
    yield Signal("sequence.ar_tf_ratio", float(ratio[-1]), "ratio", int(epochs[-1]),
                 "autoregressive over teacher-forced validation loss")
    yield Signal("sequence.ar_tf_ratio_first", float(ratio[0]), "ratio", int(epochs[0]))
    positions = [by_epoch(run, tag) for tag in sorted(run.tags) if tag.startswith(POSITION_PREFIX)]
    if not positions:
        return
    epoch = max(curve.last_at for curve in positions)
    last = np.array([curve.value_at(epoch) for curve in positions])
    last = last[~np.isnan(last)]
    if len(last) >= 2:
        quarter = max(1, len(last) // 4)
        head, tail = np.mean(last[:quarter]), np.mean(last[-quarter:])
        yield Signal("sequence.error_growth", float(tail / head) if head > 0 else np.inf, "ratio", epoch,
                     "error of the last quarter of the sequence over the first")
