"""MMEngine / MMPose idiom: a canonical fix as the config line an MMEngine user edits.

One place knows how MMEngine spells each canonical key; the report shows a fix for an MMEngine
work dir in this idiom beside the canonical `--set` form.
"""

from __future__ import annotations

# Canonical fix keys → the MMEngine/MMPose config line a user edits ({v}: the new value).
IDIOM = {
    "optimizer.lr": "optim_wrapper = dict(optimizer=dict(lr={v}))",
    "optimizer.weight_decay": "optim_wrapper = dict(optimizer=dict(weight_decay={v}))",
    "codec.sigma": "codec = dict(sigma={v})",
    "train.max_epochs": "train_cfg = dict(max_epochs={v})",
    "train.val_interval": "train_cfg = dict(val_interval={v})",
    "data.batch_size": "train_dataloader = dict(batch_size={v})",
    "train.grad_clip": "optim_wrapper = dict(clip_grad=dict(max_norm={v}))",
    "train.warmup_epochs": "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, "
                           "end={v}), ...]",
    "train.ema": "custom_hooks = [dict(type='EMAHook')]",
}


def _monitored_as_logged(run) -> tuple[str, str]:
    """The monitored metric under the name MMEngine logged it (its hooks take that name), and its mode."""
    monitor = getattr(run, "monitor", None)
    if monitor is None:
        return "PCK", "max"
    logged = next((row.logged for row in getattr(run, "names", []) if row.tag == monitor.metric), None)
    return logged or monitor.metric.removeprefix("val/"), monitor.mode


def config_line(fix, run=None) -> str | None:
    """A Fix (key, op, value) as the line to change in an MMEngine config; None where MMEngine has no such key.

    `run` (an imported MMEngine Run) supplies the current value for `multiply` fixes and the
    monitored metric for an EarlyStoppingHook.
    """
    config = (run.config if run is not None else None) or {}
    if fix.key == "train.early_stopping.patience":
        metric, mode = _monitored_as_logged(run)
        rule = "greater" if mode == "max" else "less"
        return (f"custom_hooks = [dict(type='EarlyStoppingHook', monitor='{metric}', rule='{rule}', "
                f"patience={fix.value})]")
    template = IDIOM.get(fix.key)
    if template is None:
        return None
    value = fix.value
    if fix.op == "multiply":
        section, _, key = fix.key.partition(".")
        current = (config.get(section) or {}).get(key)
        if current is None:
            return template.format(v=f"<current> * {fix.value:g}") if isinstance(fix.value, (int, float)) else None
        value = current * fix.value
        value = round(value) if isinstance(current, int) else float(f"{value:.3g}")
    if fix.op == "enable" and value is None:
        value = True
    return template.format(v=value)
