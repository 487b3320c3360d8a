"""Optimizer and learning-rate schedule from the `optimizer.*` and `train.*` keys."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ceph_doctor.train.hooks import Hook


def build_optimizer(model: nn.Module, config: dict) -> torch.optim.AdamW:
    """AdamW over every parameter, frozen ones included.

    Frozen parameters get no gradient, and AdamW skips those, so unfreezing
    later needs no new optimizer. Biases and normalisation weights get no
    weight decay: shrinking them toward zero regularises nothing useful.
    """
    decay, no_decay = [], []
    for parameter in model.parameters():
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    settings = config["optimizer"]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings["lr"],
    )


class LrSchedule:
    """Multiplier on the base lr at optimizer step `step` (0-based), for `torch.optim.lr_scheduler.LambdaLR`.

    - `cosine` (default) and `constant`: after a linear warmup of `warmup` steps.
    - `step`: after the warmup, ×`gamma` at each milestone (fractions of the run).
    - `one_cycle` (Smith & Topin 2019, as torch's OneCycleLR): from lr/25 up to lr over the first 30 % of the
      run, then a cosine down to lr/25/10⁴; it is its own warmup, so `warmup` is not added to it.
    - `plateau` (as ReduceLROnPlateau on the monitored metric): after the warmup, ×`gamma` for each
      reduction that `PlateauReduction` has counted.

    A callable object, not a closure: LambdaLR then saves its attributes with the scheduler, so a
    resumed run keeps the reductions a plateau has made. They are plain numbers (weights-only loadable).
    """

    ONE_CYCLE_RISE, ONE_CYCLE_START, ONE_CYCLE_END = 0.3, 1 / 25, 1 / 25 / 1e4

    def __init__(self, schedule: str, warmup: int, total: int, gamma: float = 0.1,
                 milestones: tuple[float, ...] = (0.8, 0.95)):
        self.schedule, self.warmup, self.total = schedule, warmup, total
        self.gamma, self.milestones = gamma, [round(fraction * total) for fraction in milestones]
        self.reductions = 0

    def __call__(self, step: int) -> float:
        if self.schedule == "one_cycle":
            return self._one_cycle(step)
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        if self.schedule == "step":
            return self.gamma ** sum(step >= milestone for milestone in self.milestones)
        if self.schedule == "plateau":
            return self.gamma ** self.reductions
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def _one_cycle(self, step: int) -> float:
        rise = max(1, round(self.ONE_CYCLE_RISE * self.total))
        if step < rise:
            return self.ONE_CYCLE_START + (1 - self.ONE_CYCLE_START) * step / rise
        progress = min(1.0, (step - rise) / max(1, self.total - rise))
        return self.ONE_CYCLE_END + (1 - self.ONE_CYCLE_END) * 0.5 * (1.0 + math.cos(math.pi * progress))


class PlateauReduction(Hook):
    """`train.schedule=plateau`: one more ×gamma each time the monitored metric has gone `patience`
    validations without a new best (ReduceLROnPlateau's rule, with no cooldown)."""

    def __init__(self, patience: int):
        self.patience = patience
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None  # set once the trainer has built it

    def follow(self, scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
        self.scheduler = scheduler

    def on_validation_end(self, best, **_: Any) -> None:
        if self.scheduler is None or not best.stale or best.stale % self.patience:
            return
        schedule = self.scheduler.lr_lambdas[0]
        schedule.reductions += 1
        # At once, not at the scheduler's next step: the next epoch's first step trains at the lower lr.
        for group, base in zip(self.scheduler.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * schedule(self.scheduler.last_epoch)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: dict, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    train = config["train"]
    total = train["max_epochs"] * steps_per_epoch
    warmup = min(total, round(train["warmup_epochs"] * steps_per_epoch))
    schedule = LrSchedule(train["schedule"], warmup, total, gamma=train["lr_gamma"],
                          milestones=tuple(train["lr_milestones"]))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
