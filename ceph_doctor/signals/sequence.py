"""Signals of decoders that emit landmarks one after another: teacher-forced against autoregressive."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import (
    MissingInput, NotApplicable, PartNotSeen, Signal, part_unseen, signal_family, switched_off,
)
from ceph_doctor.signals.series import Curve, by_epoch
from ceph_doctor.store.meaning import parse
from ceph_doctor.store.reader import Run

POSITION_PREFIX = "val/error_by_position/"


@signal_family(
    "sequence",
    provides=("sequence.ar_tf_ratio", "sequence.ar_tf_ratio_first", "sequence.ar_tf_ratio_train",
              "sequence.error_growth"),
)
def sequence_signals(run: Run):
    if switched_off(run, "model.head", lambda head: head != "sequence"):
        raise NotApplicable("the model is not a sequence decoder (model.head)")
    if part_unseen(run, lambda tag: parse(tag).decode in ("ar", "tf"), ("autoregressive", "teacher_forced")):
        raise PartNotSeen("a sequence decoder", "teacher-forced and autoregressive validation losses "
                          "(val/loss_tf, val/loss_ar)")
    # A sequence model's plain validation loss, computed with the labels given, is teacher-forced
    # (Hugging Face's eval_loss beside an eval_ar_loss); ceph-doctor's own runs name both.
    free = by_epoch(run, "val/loss_ar")
    teacher = by_epoch(run, "val/loss_tf")
    if teacher.empty and not free.empty:
        teacher = by_epoch(run, "val/loss")
    if teacher.empty or free.empty:
        raise MissingInput("teacher-forced and autoregressive validation losses (val/loss_tf, val/loss_ar)")
    found = loss_ratio(free, teacher)
    if found is None:
        return
    epochs, ratio = found
    yield Signal("sequence.ar_tf_ratio", float(ratio[-1]), "×", int(epochs[-1]),
                 "autoregressive over teacher-forced validation loss")
    yield Signal("sequence.ar_tf_ratio_first", float(ratio[0]), "×", int(epochs[0]))
    # On the fixed training images the teacher-forced fit is as good as it gets: the gap there is exposure
    # bias alone, not mixed with how badly the model generalises.
    train = loss_ratio(by_epoch(run, "train/eval_loss"), by_epoch(run, "train/eval_loss_tf"))
    if train is not None:
        yield Signal("sequence.ar_tf_ratio_train", float(train[1][-1]), "×", int(train[0][-1]),
                     "autoregressive over teacher-forced loss on the fixed training images")
    positions = [by_epoch(run, tag) for tag in sorted(run.tags) if tag.startswith(POSITION_PREFIX)]
    if not positions:
        return
    epoch = max(curve.last_at for curve in positions)
    last = np.array([curve.value_at(epoch) for curve in positions])
    last = last[~np.isnan(last)]
    if len(last) >= 2:
        quarter = max(1, len(last) // 4)
        head, tail = np.mean(last[:quarter]), np.mean(last[-quarter:])
        yield Signal("sequence.error_growth", float(tail / head) if head > 0 else np.inf, "×", epoch,
                     "error of the last quarter of the sequence over the first")


def loss_ratio(free: Curve, teacher: Curve) -> tuple[np.ndarray, np.ndarray] | None:
    """(epochs, autoregressive / teacher-forced) where both were logged and the teacher-forced loss is > 0."""
    epochs, free_values, teacher_values = free.aligned(teacher)
    keep = teacher_values > 0
    return (epochs[keep], free_values[keep] / teacher_values[keep]) if keep.any() else None
