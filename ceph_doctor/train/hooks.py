"""Hooks: the training loop's extension points.

Every method is a no-op called with keyword arguments only, so a hook
overrides just the events it cares about, takes the arguments it needs by
name, and new arguments never break old hooks (each method takes **_). The
loop calls them in this order:

    on_train_start
      on_epoch_start
        on_before_optimizer_step   (every optimizer step)
        on_step_end                (every optimizer step)
      on_validation_end            (every `train.val_interval` epochs)
      on_epoch_end
    on_train_end                   (also after an exception, with status="failed")
    on_exception                   (only when training raised)

Every event is also given `request_stop(reason)`: a hook that calls it ends the
run after the current epoch, with status "early_stopped" and the reason in the
manifest. The hooks never see the trainer itself.
"""

from __future__ import annotations

from typing import Any


class Hook:
    def on_train_start(self, **_: Any) -> None:
        """config, run_dir, landmarks, manifest (what the run's manifest says beyond its config),
        resume_after ((step, epoch) of the checkpoint resumed from, or None), start_epoch, steps_per_epoch,
        is_main (False on the other ranks under torch.distributed), world_size, best (the BestSoFar)"""

    def on_epoch_start(self, **_: Any) -> None:
        """epoch"""

    def on_before_optimizer_step(self, **_: Any) -> None:
        """step, epoch, model, optimizer; gradients are final, unscaled and not yet clipped"""

    def on_step_end(self, **_: Any) -> None:
        """step, epoch, loss, loss_parts, lr, grad_norm, batch_size (this process's), model, scalars (more
        of this step's training scalars, floats or 0-d tensors, e.g. train/teacher_forcing of a sequence decoder),
        data_seconds (how long the step waited for its batches)"""

    def on_validation_end(self, **_: Any) -> None:
        """epoch, step, result (a ValidationResult), is_best, best, evaluated_model (the averaged weights
        under train.ema), config, resume_state (a callable: what last.pth needs to resume)"""

    def on_epoch_end(self, **_: Any) -> None:
        """epoch, model"""

    def on_train_end(self, **_: Any) -> None:
        """status ("completed" | "early_stopped" | "diverged" | "failed" | "interrupted"), stop_reason, best,
        run_dir"""

    def on_exception(self, **_: Any) -> None:
        """error"""


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
