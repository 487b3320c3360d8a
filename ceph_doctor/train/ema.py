"""The exponential moving average of the weights that validation and checkpoints use (`train.ema`)."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def averaged(model: nn.Module, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=ema_with_warmup(decay), use_buffers=True)


def ema_with_warmup(decay: float):
    """An exponential moving average whose decay ramps up as min(decay, (1 + n) / (10 + n)).

    A fixed 0.999 averages over ~1000 steps from the random initial weights: a run
    shorter than that validates a blend with its starting point. The ramp (as in
    timm's model EMA) follows the weights closely early and settles at `decay`.
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        count = int(num_averaged)
        weight = 1.0 - min(decay, (1.0 + count) / (10.0 + count))
        for average, value in zip(averaged, current):
            if average.is_floating_point():
                average.lerp_(value, weight)
            else:
                average.copy_(value)  # counters such as BatchNorm's num_batches_tracked

    return update
