"""MMEngine / MMPose: where its config holds each canonical setting, read both ways.

`SETTINGS` is the one table: canonical key → dotted path in an MMEngine config. The importer reads a
work dir's dumped config through it (`from_config`), the integration reads a live runner's config through
it, and the report writes a fix as the line an MMEngine user edits (`config_line`), with the new value the
engine computed. A few settings live in lists of hooks or schedulers rather than at a path; their lines
are written here too.
"""

from __future__ import annotations

from typing import Any

NAME = "mmengine"
SETTINGS = {
    "optimizer.lr": "optim_wrapper.optimizer.lr",
    "optimizer.weight_decay": "optim_wrapper.optimizer.weight_decay",
    "codec.sigma": "codec.sigma",
    "train.max_epochs": "train_cfg.max_epochs",
    "train.val_interval": "train_cfg.val_interval",
    "data.batch_size": "train_dataloader.batch_size",
    "data.num_workers": "train_dataloader.num_workers",
    "train.grad_clip": "optim_wrapper.clip_grad.max_norm",
}


def from_config(config: dict) -> dict[str, Any]:
    """The canonical settings an MMEngine config holds at the table's paths (nested, by section)."""
    found: dict[str, Any] = {}
    for key, path in SETTINGS.items():
        value: Any = config
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (list, tuple)) and value and len(set(value)) == 1:
            value = value[0]  # sigma=(12, 12)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            section, _, name = key.partition(".")
            found.setdefault(section, {})[name] = value
    return found


def config_line(key: str, new: Any, run=None, unknown: str = "<new value>") -> str | None:
    """The line to change in an MMEngine config so that `key` becomes `new`; None where MMEngine has no such
    setting. Where the engine could not compute `new` (a factor, and no current value), `unknown` says it."""
    value = unknown if new is None else repr(new)
    if key == "train.early_stopping.patience":
        metric, mode = _monitored_as_logged(run)
        rule = "greater" if mode == "max" else "less"
        return f"custom_hooks = [dict(type='EarlyStoppingHook', monitor='{metric}', rule='{rule}', patience={value})]"
    if key == "train.warmup_epochs":
        return (f"param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, end={value}), "
                "...]")
    if key == "train.ema":
        return f"custom_hooks = [dict(type='EMAHook', momentum={1 - new:.4g})]" if isinstance(new, float) else \
            "custom_hooks = [dict(type='EMAHook')]"
    path = SETTINGS.get(key)
    if path is None:
        return None
    first, *rest = path.split(".")
    inner = value
    for depth, part in enumerate(reversed(rest)):
        inner = f"{part}={inner}" if depth == 0 else f"{part}=dict({inner})"
    return f"{first} = dict({inner})"


def _monitored_as_logged(run) -> tuple[str, str]:
    """The monitored metric under the name MMEngine logged it (its hooks take that name), and its mode."""
    monitor = getattr(run, "monitor", None)
    if monitor is None:
        return "PCK", "max"
    logged = next((row.logged for row in getattr(run, "names", []) if row.tag == monitor.metric), None)
    return logged or monitor.metric.removeprefix("val/"), monitor.mode
