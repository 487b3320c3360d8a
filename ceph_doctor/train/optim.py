"""Optimizer and learning-rate schedule from the `optimizer.*` and `train.*` keys."""

from __future__ import annotations

import math

import torch
from torch import nn


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


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier on the base lr at optimizer step `step` (0-based): linear warmup, then cosine or flat."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: dict, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    train = config["train"]
    total = train["max_epochs"] * steps_per_epoch
    warmup = min(total, round(train["warmup_epochs"] * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, total, train["schedule"])
    )
