"""Signals: pure functions from a run to named measurements (see `base.py`)."""

from __future__ import annotations

from ceph_doctor.signals import (  # noqa: F401 (registers)
    curves, derived, heatmaps, landmark_kinds, optimisation, pace, predictions, sequence, tasks, throughput,
)
from ceph_doctor.signals.base import REGISTRY, MissingInput, NotApplicable, PartNotSeen, Signal, SignalSet
from ceph_doctor.store.monitor import epoch_label
from ceph_doctor.store.reader import Run


def compute_signals(run: Run) -> SignalSet:
    """Every registered signal family on `run`; families that lack inputs are listed as missing."""
    result = SignalSet(when=lambda epoch: epoch_label(run, epoch))
    for family in REGISTRY.values():
        try:
            for signal in family.function(run):
                result.values[signal.name] = signal
        except NotApplicable as reason:
            result.inapplicable[family.name] = str(reason)
        except PartNotSeen as unseen:
            result.unseen[family.name] = unseen.part
            result.missing[family.name] = str(unseen)
        except MissingInput as missing:
            result.missing[family.name] = str(missing)
    return result


__all__ = ["MissingInput", "Signal", "SignalSet", "compute_signals"]
