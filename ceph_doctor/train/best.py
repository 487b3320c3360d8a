"""The monitored validation metric as training follows it: which tag, which way is better, its best so far."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ceph_doctor.errors import ConfigError
from ceph_doctor.store.meaning import direction
from ceph_doctor.store.monitor import Monitor, choose


@dataclass
class BestSoFar:
    """The monitored validation metric's best value, and how many validations ago it was."""

    metric: str
    mode: str  # "min" | "max"
    value: float = math.nan
    epoch: int = 0
    stale: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Whether `value` is a new best, by the same comparison every reader of the run makes."""
        if Monitor(self.metric, self.mode, "").better(value, self.value):
            self.value, self.epoch, self.stale = value, epoch, 0
            return True
        self.stale += 1
        return False


def monitored(metric: str, logged: list[str]) -> tuple[str, str]:
    """(tag, mode) training watches: `auto` is the monitor's own choice among what is logged."""
    if metric == "auto":
        monitor = choose(logged)
        return monitor.metric, monitor.mode
    if direction(metric) is None:
        raise ConfigError(f"train.early_stopping.metric: {metric!r} is not a metric (logged: {', '.join(logged)}, …)")
    return metric, direction(metric)
