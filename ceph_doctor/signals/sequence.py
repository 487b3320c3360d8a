"""Signals of decoders that emit landmarks one after another: teacher-forced against autoregressive."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import by_epoch
from ceph_doctor.store.reader import Run


@signal_family(
    "sequence",
    provides=("sequence.ar_tf_ratio", "sequence.ar_tf_ratio_first", "sequence.error_growth"),
)
def sequence_signals(run: Run):
    teacher, free = by_epoch(run, "val/loss_tf"), by_epoch(run, "val/loss_ar")
    if teacher.empty or free.empty:
        raise MissingInput("teacher-forced and autoregressive validation losses (val/loss_tf, val/loss_ar)")
    ratio = (free / teacher.where(teacher > 0)).dropna()
    if ratio.empty:
        return
    yield Signal("sequence.ar_tf_ratio", float(ratio.iloc[-1]), "ratio", int(ratio.index[-1]),
                 "autoregressive over teacher-forced validation loss")
    yield Signal("sequence.ar_tf_ratio_first", float(ratio.iloc[0]), "ratio", int(ratio.index[0]))
    positions = run.scalars[run.scalars["tag"].str.startswith("val/error_by_position/")]
    if positions.empty:
        return
    last = positions[positions["epoch"] == positions["epoch"].max()].sort_values("tag")["value"].to_numpy()
    if len(last) >= 2:
        head, tail = np.mean(last[: max(1, len(last) // 4)]), np.mean(last[-max(1, len(last) // 4):])
        yield Signal("sequence.error_growth", float(tail / head) if head > 0 else np.inf, "ratio",
                     int(positions["epoch"].max()), "error of the last quarter of the sequence over the first")
