"""Mixed precision: which autocast dtype a device supports, and the matching grad scaler."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch


@dataclass
class Precision:
    dtype: torch.dtype | None  # None: full precision
    autocast: Callable
    scaler: torch.amp.GradScaler

    @property
    def name(self) -> str:
        return "fp32" if self.dtype is None else str(self.dtype).removeprefix("torch.")


def precision_for(device: torch.device, amp: bool | str) -> Precision:
    """bf16 where the device has it (no loss scaling needed), else fp16 with a scaler; fp32 when off.

    `amp="auto"` turns it on for CUDA only: CPU autocast is slower than fp32
    for convolutions on most CPUs.
    """
    enabled = device.type == "cuda" if amp == "auto" else bool(amp)
    if not enabled:
        return Precision(None, nullcontext, torch.amp.GradScaler(device.type, enabled=False))
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    else:
        dtype = torch.bfloat16
    return Precision(
        dtype,
        partial(torch.autocast, device_type=device.type, dtype=dtype),
        torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
    )
