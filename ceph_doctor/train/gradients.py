"""Cheap measurements of how a model is being updated: gradient norms, update ratios.

Both are taken per top-level module (for our models: backbone and head), the
resolution at which a frozen or starved part of a network shows up.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def top_level_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    groups = {name: list(child.parameters()) for name, child in model.named_children()}
    return {name: params for name, params in groups.items() if params}


def _norm(tensors: list[torch.Tensor]) -> float:
    return float(torch.nn.utils.get_total_norm(tensors)) if tensors else 0.0


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """`grad/norm` over all parameters and `grad/norm/<module>` per top-level module (0 = no gradient)."""
    values = {}
    every = []
    for name, params in top_level_groups(model).items():
        grads = [p.grad.detach() for p in params if p.grad is not None]
        every.extend(grads)
        values[f"grad/norm/{name}"] = _norm(grads)
    values["grad/norm"] = _norm(every)
    return values


def trainable_fraction(model: nn.Module) -> float:
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable / max(1, total)


class UpdateRatio:
    """‖Δw‖ / ‖w‖ per top-level module across one optimizer step.

    Take `before(model)` ahead of `optimizer.step()` and `after(model)` behind
    it. A healthy ratio is around 1e-3; far below means the module is not
    learning, far above means the lr is too high for it.
    """

    def __init__(self):
        self._snapshot: dict[str, list[torch.Tensor]] | None = None

    def before(self, model: nn.Module) -> None:
        self._snapshot = {
            name: [p.detach().clone() for p in params] for name, params in top_level_groups(model).items()
        }

    def after(self, model: nn.Module) -> dict[str, float]:
        if self._snapshot is None:
            return {}
        values, deltas, sizes = {}, [], []
        for name, params in top_level_groups(model).items():
            old = self._snapshot.get(name)
            if old is None:
                continue
            delta, size = _norm([new.detach() - prev for new, prev in zip(params, old)]), _norm(old)
            values[f"update_ratio/{name}"] = delta / max(size, 1e-12)
            deltas.append(delta)
            sizes.append(size)
        if deltas:  # the whole model's step against the whole model's weights
            values["update_ratio/all"] = float(np.hypot.reduce(deltas)) / max(float(np.hypot.reduce(sizes)), 1e-12)
        self._snapshot = None
        return values


def task_gradients(task_losses: dict[str, torch.Tensor], shared: list[torch.Tensor]) -> dict[str, float]:
    """What each task's loss sends into the shared parameters: `grad/shared/<task>` (its norm) and, for two
    tasks, `grad/task_cosine` (the cosine between them: below 0, each task undoes part of the other's step).

    One extra backward pass per task through the shared part, so the trainer asks for it on logged steps only.
    """
    shared = [p for p in shared if p.requires_grad]
    if not shared:
        return {}
    flat = {}
    for name, loss in task_losses.items():
        grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        flat[name] = torch.cat([(g if g is not None else torch.zeros_like(p)).detach().float().flatten()
                                for g, p in zip(grads, shared)])
    values = {f"grad/shared/{name}": float(vector.norm()) for name, vector in flat.items()}
    if len(flat) == 2:
        first, second = flat.values()
        values["grad/task_cosine"] = float(torch.nn.functional.cosine_similarity(first, second, dim=0, eps=1e-12))
    return values
