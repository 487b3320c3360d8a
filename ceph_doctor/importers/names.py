"""Other tools' metric names → ceph-doctor's canonical scalar tags, and which way is better.

The signals read canonical tags (`train/loss`, `val/mre_mm`, `optim/lr`…). Each importer
hands every name it reads to a `NameMap`, which applies the user's `--map CANON=THEIRS`
first, then the built-in table, then a split prefix (`val_x` → `val/x`). A metric with a
known direction that is not one the signals already prefer (PCK, AUC, EPE…) keeps its own
name in the tag; `monitor()` then tells the signals which way it improves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ceph_doctor.errors import UserInputError

# Lower-cased, with `-`, `.`, ` ` read as `_`; looked up before any prefix handling.
ALIASES = {
    "train/loss": ("loss", "train_loss", "train/loss", "loss_kpt", "train/loss_kpt", "training_loss",
                   "train_loss_step", "train/loss_step", "loss_step"),
    "val/loss": ("val_loss", "val/loss", "valid_loss", "validation_loss", "val/loss_epoch", "val_loss_epoch",
                 "eval_loss", "test_loss"),
    "train/loss_tf": ("coords_loss", "train_coords_loss", "train/coords_loss", "loss_tf", "train_loss_tf",
                      "teacher_forced_loss", "train/loss_teacher_forced", "train_loss_teacher_forced"),
    "val/loss_tf": ("val_coords_loss", "val/coords_loss", "val_loss_tf", "val/loss_teacher_forced",
                    "val_loss_teacher_forced", "val_teacher_forced_loss"),
    "val/loss_ar": ("val_loss_ar", "val/loss_autoregressive", "val_loss_autoregressive", "val_ar_loss",
                    "val_autoregressive_loss", "val_coords_loss_ar"),
    "val/nme": ("nme", "val_nme", "val/nme", "nme_val"),
    "val/mre_px": ("mre", "val_mre", "val/mre", "mre_px", "val_mre_px", "val/mre_px", "mean_radial_error",
                   "val_mean_error", "mean_error_px"),
    "val/mre_mm": ("mre_mm", "val_mre_mm", "val/mre_mm", "mre(mm)", "mre_(mm)", "val_mre(mm)",
                   "mean_radial_error_mm"),
    "optim/lr": ("lr", "learning_rate", "optim/lr", "base_lr", "lr_sgd", "lr_adam", "lr_adamw", "train/lr"),
    "grad/norm": ("grad_norm", "grad/norm", "gradient_norm", "train/grad_norm"),
}
CANONICAL = {alias: tag for tag, aliases in ALIASES.items() for alias in aliases}

# Metrics kept under their own name: (lower-cased name without split prefix) → better direction.
DIRECTIONS = {
    "pck": "max", "acc_pose": "max", "pckaccuracy": "max", "pck@0.05": "max", "pck@0.1": "max", "auc": "max",
    "ap": "max", "coco/ap": "max", "map": "max", "ar": "max", "sdr": "max",
    "epe": "min", "nme": "min", "mre": "min", "mre_px": "min", "mre_mm": "min", "loss": "min", "mse": "min",
    "mae": "min", "rmse": "min", "error": "min", "mean_error": "min",
}
CANONICAL_DIRECTIONS = {"val/mre_mm": "min", "val/mre_px": "min", "val/nme": "min", "val/pck@0.05": "max",
                        "val/loss": "min", "val/loss_tf": "min", "val/loss_ar": "min"}
# Which kept-name metric to monitor when the run has none of the signals' own (best first).
MONITOR_ORDER = ("pck", "pckaccuracy", "pck@0.05", "pck@0.1", "auc", "ap", "coco/ap", "sdr", "epe", "acc_pose")

VAL_PREFIXES = ("val/", "val_", "valid_", "validation_", "val-", "eval_", "eval/", "test_", "test/")
TRAIN_PREFIXES = ("train/", "train_", "training_", "train-")


def normalise(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower()).replace("pck@0_", "pck@0.")


def direction(name: str) -> str | None:
    """'min', 'max' or None for a metric name in any of its spellings."""
    key = normalise(name)
    for prefix in (*VAL_PREFIXES, *TRAIN_PREFIXES):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if key.startswith("sdr"):
        return "max"
    return DIRECTIONS.get(key) or DIRECTIONS.get(key.rsplit("/", 1)[-1])


@dataclass
class NameMap:
    """How one analysis reads names; `user` holds `--map` entries as their name → canonical tag."""

    user: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: list[str] | None) -> "NameMap":
        user = {}
        for entry in entries or []:
            canonical, sep, theirs = entry.partition("=")
            if not sep or not canonical.strip() or not theirs.strip():
                raise UserInputError(f"--map {entry!r}: expected CANON=THEIRS, e.g. --map val/mre_mm=MRE")
            user[theirs.strip()] = canonical.strip()
        return cls(user)

    def tag(self, name: str, split: str | None = None) -> str:
        """The canonical tag for `name`; `split` ('train' | 'val') is where the tool logged it, if known."""
        if name in self.user:
            return self.user[name]
        key = normalise(name)
        if split == "val" and not key.startswith(VAL_PREFIXES):
            if f"val_{key}" in CANONICAL:
                return CANONICAL[f"val_{key}"]
            if key in ("loss", "coords_loss"):
                return "val/loss" if key == "loss" else "val/loss_tf"
            if key in CANONICAL and CANONICAL[key].startswith("val/"):
                return CANONICAL[key]
            return f"val/{name.strip()}"
        if key in CANONICAL:
            return CANONICAL[key]
        # Lightning's on_step / on_epoch copies: the per-step one is the series, the epoch mean keeps a tag of its own.
        if key.endswith("_step") and key[:-5] in CANONICAL:
            return CANONICAL[key[:-5]]
        if key.endswith("_epoch") and key[:-6] in CANONICAL:
            return CANONICAL[key[:-6]] + "_epoch"
        if key.startswith(("grad_norm", "grad/norm")) or name.startswith(("grad/", "update_ratio/", "params/")):
            return name.strip()
        for prefix in VAL_PREFIXES:
            if key.startswith(prefix):
                return "val/" + name.strip()[len(prefix):]
        for prefix in TRAIN_PREFIXES:
            if key.startswith(prefix):
                return "train/" + name.strip()[len(prefix):]
        return f"{split}/{name.strip()}" if split == "train" else name.strip()

    def monitor(self, tags: set[str]) -> dict[str, str] | None:
        """The metric the signals should read when the run lacks their preferred ones, with its direction."""
        for tag, canonical in self.user.items():
            if canonical in tags and canonical.startswith("val/") and not canonical.startswith("val/loss"):
                mode = CANONICAL_DIRECTIONS.get(canonical) or direction(tag) or direction(canonical)
                if mode:
                    return {"metric": canonical, "mode": mode}
        if tags & {"val/mre_mm", "val/mre_px", "val/nme", "val/pck@0.05"}:
            return None  # the signals' own preference already finds one
        val = sorted(tag for tag in tags if tag.startswith("val/") and not tag.startswith("val/loss"))
        for wanted in MONITOR_ORDER:
            for tag in val:
                if normalise(tag[4:]) == wanted:
                    return {"metric": tag, "mode": direction(tag) or "max"}
        for tag in val:
            if direction(tag):
                return {"metric": tag, "mode": direction(tag)}
        return None
