"""Signals of how fast a run trains, and what holds it back: the share of each training step spent waiting for
the data loader.

ceph-doctor's recorder logs that share itself (`perf/data_wait_share`, over the steps since the previous logged
one, validations left out); MMEngine and mmcv log each iteration's seconds and the part spent on data (`time`,
`data_time`, read as `perf/step_time_s` and `perf/data_time_s`), as do the meters of many scripts. The median
over the logged steps after the first epoch is the signal: the first steps also wait for the loader's workers to
start and for caches to fill, which every run pays once.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import by_step
from ceph_doctor.store.reader import Run

NEEDS = ("the share of each training step spent waiting for data (ceph-doctor's recorder logs it; MMEngine's "
         "logs give it as data_time and time)")


def data_wait_shares(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, shares) of the logged training steps, from the logged share or from data and step seconds."""
    logged = run.series("perf/data_wait_share")
    if len(logged):
        return logged.epoch, logged.value
    data, whole = run.series("perf/data_time_s"), run.series("perf/step_time_s")
    steps, in_data, in_whole = np.intersect1d(data.step, whole.step, return_indices=True)
    if not len(steps):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.clip(data.value[in_data] / whole.value[in_whole], 0.0, 1.0)
    return data.epoch[in_data], shares


@signal_family("throughput", provides=("throughput.data_wait_share", "throughput.images_per_s", "throughput.steps",
                                       "throughput.num_workers"))
def throughput_signals(run: Run):
    epochs, shares = data_wait_shares(run)
    finite = np.isfinite(shares)
    epochs, shares = epochs[finite], shares[finite]
    settled = epochs > epochs.min() if len(epochs) else epochs.astype(bool)
    if settled.sum() >= 3:  # past the first epoch, when there is enough of it
        epochs, shares = epochs[settled], shares[settled]
    if len(shares) < 3:
        raise MissingInput(NEEDS)
    first_epoch, last_epoch = int(epochs.min()), int(epochs.max())
    yield Signal("throughput.data_wait_share", float(np.median(shares)), "share", first_epoch,
                 "median over the logged training steps (after the first epoch) of the share spent waiting for data")
    yield Signal("throughput.steps", int(len(shares)), "steps", last_epoch)
    workers = (run.config.get("data") or {}).get("num_workers")  # ours, or read from another tool's config
    if isinstance(workers, int) and not isinstance(workers, bool):
        yield Signal("throughput.num_workers", workers, "", last_epoch, "the run's data-loader processes")
    rates = by_step(run, "perf/images_per_s")
    if len(rates):
        yield Signal("throughput.images_per_s", float(np.median(rates.values)), "images/s", last_epoch,
                     "median training throughput over the logged steps")
