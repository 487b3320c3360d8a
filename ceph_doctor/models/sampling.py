"""Scheduled sampling (Bengio et al. 2015): how often a sequence decoder is fed the true previous point.

`train.scheduled_sampling` names the decay of the teacher-forcing probability p over training
progress u (the share of optimizer steps done, 0 → 1). Each decays from about 1 to about 0 by
three quarters of the run, so the last quarter trains on the model's own points, as inference runs:

    linear            p = max(0, 1 − u / 0.75)
    exponential       p = 0.02 ** (u / 0.75)                  (Bengio's k^i, k fixed by the run length)
    inverse_sigmoid   p = 1 / (1 + exp(12 · (u − 0.4)))       (Bengio's k / (k + exp(i / k)))
"""

from __future__ import annotations

import math

SCHEDULES = ("linear", "exponential", "inverse_sigmoid")
FULLY_SAMPLED_AT = 0.75


def teacher_forcing_probability(schedule: str | None, progress: float) -> float:
    """p at training progress `progress` in [0, 1]; 1.0 (teacher forcing only) without a schedule."""
    u = min(max(progress, 0.0), 1.0)
    if schedule is None:
        return 1.0
    if schedule == "linear":
        return max(0.0, 1.0 - u / FULLY_SAMPLED_AT)
    if schedule == "exponential":
        return 0.02 ** (u / FULLY_SAMPLED_AT)
    if schedule == "inverse_sigmoid":
        return 1.0 / (1.0 + math.exp(12.0 * (u - 0.4)))
    raise ValueError(f"train.scheduled_sampling must be one of {SCHEDULES} or null, got {schedule!r}")
