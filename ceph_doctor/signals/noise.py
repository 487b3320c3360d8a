"""What stands out of a curve's own noise: a plateau of the monitored metric, spikes of the training loss.

Both compare a change with the noise the same curve shows around it (robust standard deviations,
1.4826 × MAD), so a noisy metric or a heavy-tailed per-batch loss is judged on its own scale.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.series import Curve, MetricCurve
from ceph_doctor.store.reader import Run

# A change smaller than this (relative) is noise, not an improvement: it ends no plateau. Nor does one
# within the metric's own validation-to-validation noise over the stretch (PLATEAU_NOISE_SIGMAS robust
# standard deviations of its consecutive changes): a noisy metric that drifts 2 % in 20 validations has
# not moved, a smooth one that gains 2 % steadily has.
MEANINGFUL_IMPROVEMENT = 0.01
PLATEAU_NOISE_SIGMAS = 2.0
PLATEAU_NOISE_CONTEXT = 5  # validations the noise is measured over, at least


def _median(values: np.ndarray) -> float:
    """np.median of a short 1-D array, without its overhead (it is asked for per stretch length)."""
    ordered = np.sort(values)
    return float(ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


def plateau_of(run: Run, curve: MetricCurve) -> int:
    """`plateau_length` of the monitored metric, measured once per run (two families read it)."""
    if "plateau" not in run.memo:
        run.memo["plateau"] = plateau_length(curve.values, curve)
    return run.memo["plateau"]


def plateau_length(values: Curve, curve: MetricCurve) -> int:
    """The longest trailing stretch of validations whose best beats the best before it by less than
    MEANINGFUL_IMPROVEMENT and less than PLATEAU_NOISE_SIGMAS robust standard deviations of the
    validation-to-validation changes over the stretch (at least its last PLATEAU_NOISE_CONTEXT), each
    change measured as `worse_by`."""
    series = values.values
    if len(series) < 2:
        return 0
    sign = 1.0 if curve.mode == "min" else -1.0
    oriented = np.where(np.isfinite(series), sign * series, np.inf)  # lower is better, NaN never best
    best_before = np.minimum.accumulate(oriented)[:-1]  # [k]: best of series[:k+1]
    best_after = np.minimum.accumulate(oriented[::-1])[::-1][1:]  # [k]: best of series[k+1:]
    changes = curve.worse_by_each(series[1:], series[:-1])
    longest = 0
    for length in range(1, len(series)):
        split = len(series) - length - 1  # the stretch is series[split+1:]
        reference, best = sign * best_before[split], sign * best_after[split]
        if not np.isfinite(reference):
            break
        improvement = -curve.worse_by(best, reference) if np.isfinite(best) else 0.0
        if improvement > MEANINGFUL_IMPROVEMENT:  # only then can the noise decide (it costs two medians)
            recent = changes[-max(length, PLATEAU_NOISE_CONTEXT):]
            recent = recent[np.isfinite(recent)]
            noise = 1.4826 * _median(np.abs(recent - _median(recent))) if len(recent) >= 3 else 0.0
            if improvement > PLATEAU_NOISE_SIGMAS * noise:
                break
        longest = length
    return longest


SPIKE_FACTOR = 5.0
SPIKE_WINDOW = 20  # steps before the one judged
SPIKE_MIN_HISTORY = 5
# ...and beyond this many robust standard deviations of those steps' log-losses: a per-batch loss
# with a heavy tail (rare classes, hard batches) swings 10-50x from step to step and is no spike.
SPIKE_NOISE_SIGMAS = 5.0


def count_spikes(losses: np.ndarray) -> int:
    """Steps whose loss exceeds SPIKE_FACTOR × the median of up to SPIKE_WINDOW steps before them (with
    at least SPIKE_MIN_HISTORY before), and lies beyond SPIKE_NOISE_SIGMAS robust standard deviations
    (1.4826 × MAD) of those steps' log-losses. Losses ≤ 0 are left out (no log).

    A median is at least the minimum, so only steps above FACTOR × their window's minimum can be
    spikes: the (cheap) minimum screens, and medians are taken for the steps it lets through.
    """
    logs = np.log(losses[losses > 0])
    margin = np.log(SPIKE_FACTOR)
    spikes = 0
    for index in range(SPIKE_MIN_HISTORY, min(SPIKE_WINDOW, len(logs))):  # windows still filling up (few, small)
        before = sorted(logs[:index].tolist())
        median = _median_of_sorted(before)
        sigma = 1.4826 * _median_of_sorted(sorted(abs(value - median) for value in before))
        spikes += logs[index] - median > max(margin, SPIKE_NOISE_SIGMAS * sigma)
    if len(logs) > SPIKE_WINDOW:
        windows = np.lib.stride_tricks.sliding_window_view(logs[:-1], SPIKE_WINDOW)  # row i: the steps before i+W
        judged = logs[SPIKE_WINDOW:]
        candidates = np.flatnonzero(judged > windows.min(axis=1) + margin)
        spikes += _spikes(judged[candidates], windows[candidates], margin)
    return int(spikes)


def _median_of_sorted(values: list[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _spikes(values: np.ndarray, before: np.ndarray, margin: float) -> int:
    """How many `values[i]` stand above the median of `before[i]` by more than the margin and the noise."""
    if len(values) == 0:
        return 0
    median = np.median(before, axis=1)
    sigma = 1.4826 * np.median(np.abs(before - median[:, None]), axis=1)
    return int((values - median > np.maximum(margin, SPIKE_NOISE_SIGMAS * sigma)).sum())
