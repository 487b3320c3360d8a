"""PyTorch Lightning: which `Trainer` argument holds each canonical setting, read both ways.

`SETTINGS` is the one table: canonical key → `Trainer` argument (and attribute of a live trainer). The
integration reads a running trainer through it, and the report writes a fix as the Lightning code a user
changes, with the new value the engine computed. The optimiser's settings live in the user's
`configure_optimizers`, where no table can reach: they are written as that.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

NAME = "lightning"
SETTINGS = {
    "train.max_epochs": "max_epochs",
    "train.val_interval": "check_val_every_n_epoch",
    "train.grad_clip": "gradient_clip_val",
}


def wrote(folder: Path) -> bool:
    """Whether a folder is one Lightning's loggers write (`lightning_logs/version_N`, or a `version_N` beside
    the `hparams.yaml` Lightning saves there)."""
    versioned = re.fullmatch(r"version_\d+", folder.name) is not None
    return versioned and (folder.parent.name == "lightning_logs" or (folder / "hparams.yaml").is_file())


def from_trainer(trainer) -> dict[str, Any]:
    """The canonical settings of a live `Trainer` (nested, by section), from the table's attributes."""
    found: dict[str, Any] = {}
    for key, attribute in SETTINGS.items():
        value = getattr(trainer, attribute, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            section, _, name = key.partition(".")
            found.setdefault(section, {})[name] = value
    return found


def config_line(key: str, new: Any, run=None, unknown: str = "<new value>") -> str | None:
    """The Lightning code that makes `key` become `new`; None where Lightning has no such setting."""
    value = unknown if new is None else repr(new)
    if key in SETTINGS:
        return f"Trainer({SETTINGS[key]}={value})"
    if key == "train.early_stopping.patience":
        metric, mode = _monitored_as_logged(run)
        return f"Trainer(callbacks=[EarlyStopping(monitor='{metric}', mode='{mode}', patience={value})])"
    if key == "train.ema":
        return f"Trainer(callbacks=[WeightAveraging(...)])  # EMA decay {value}"
    if key in ("optimizer.lr", "optimizer.weight_decay"):
        return f"configure_optimizers(): {key.split('.', 1)[1]}={value}"
    return None


def _monitored_as_logged(run) -> tuple[str, str]:
    monitor = getattr(run, "monitor", None)
    if monitor is None:
        return "val_loss", "min"
    logged = next((row.logged for row in getattr(run, "names", []) if row.tag == monitor.metric), None)
    return logged or monitor.metric.replace("/", "_"), monitor.mode
