"""Hooks: the training loop's extension points.

Every method is a no-op called with keyword arguments only, so a hook
overrides just the events it cares about and new arguments never break old
hooks (each method takes **_). The loop calls them in this order:

    on_train_start
      on_epoch_start
        on_before_optimizer_step   (every optimizer step)
        on_step_end                (every optimizer step)
      on_validation_end            (every `train.val_interval` epochs)
      on_epoch_end
    on_train_end                   (also after an exception, with status="failed")
    on_exception                   (only when training raised)
"""

from __future__ import annotations

from typing import Any


class Hook:
    def on_train_start(self, **_: Any) -> None:
        """trainer, config, run_dir, start_epoch"""

    def on_epoch_start(self, **_: Any) -> None:
        """trainer, epoch"""

    def on_before_optimizer_step(self, **_: Any) -> None:
        """trainer, step, epoch, model, optimizer; gradients are final, unscaled and not yet clipped"""

    def on_step_end(self, **_: Any) -> None:
        """trainer, step, epoch, loss, loss_parts, lr, grad_norm, batch_size, scalars (more of this step's
        training scalars, floats or 0-d tensors, e.g. train/teacher_forcing of a sequence decoder)"""

    def on_validation_end(self, **_: Any) -> None:
        """trainer, epoch, step, result (a ValidationResult)"""

    def on_epoch_end(self, **_: Any) -> None:
        """trainer, epoch"""

    def on_train_end(self, **_: Any) -> None:
        """trainer, status ("completed" | "early_stopped" | "failed" | "interrupted")"""

    def on_exception(self, **_: Any) -> None:
        """trainer, error"""


EVENTS = tuple(name for name in vars(Hook) if name.startswith("on_"))


class HookList(Hook):
    """Calls each of its hooks, in order, for every event."""

    def __init__(self, hooks: list[Hook]):
        self.hooks = list(hooks)


def _dispatcher(event: str):
    def dispatch(self: HookList, **kwargs: Any) -> None:
        for hook in self.hooks:
            getattr(hook, event)(**kwargs)

    dispatch.__name__ = event
    return dispatch


for _event in EVENTS:
    setattr(HookList, _event, _dispatcher(_event))
