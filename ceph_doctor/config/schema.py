"""What each config key may hold.

One table, read by the validator and by the error messages, so the valid keys
and ranges a user is told about are always the ones actually enforced.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

from ceph_doctor.models import architectures, heads, losses
from ceph_doctor.models.sampling import SCHEDULES


@dataclass(frozen=True)
class Field:
    kind: str  # int | float | bool | str | path | size | choice | int_or_never | auto_bool | fractions | weights | numbers | pairs
    nullable: bool = False
    low: float | None = None  # inclusive bounds
    high: float | None = None
    choices: tuple[str, ...] = ()
    positive: bool = False  # strictly > 0

    def describe(self) -> str:
        if self.kind == "choice":
            text = " | ".join(self.choices)
        elif self.kind == "names":
            text = "a list of landmark names"
        elif self.kind == "size":
            text = "[width, height], positive integers"
        elif self.kind == "int_or_never":
            text = "an integer >= 0 or 'never'"
        elif self.kind == "auto_bool":
            text = "auto | true | false"
        elif self.kind == "fractions":
            text = "a rising list of fractions in (0, 1), e.g. [0.8, 0.95]"
        elif self.kind == "weights":
            text = "a mapping of " + " | ".join(self.choices) + " to weights > 0, e.g. {adaptive_wing: 1.0}"
        elif self.kind == "milestones":
            text = "a mapping of epochs to {metric: value}, e.g. {50: {val/mre_mm: 5.0}, 150: {val/mre_mm: 2.0}}"
        elif self.kind == "pairs":
            text = "a list of [name, name] pairs, e.g. [[Left eye, Right eye]]"
        elif self.kind == "numbers":
            text = "a list of numbers" + (f" in [{self.low:g}, {self.high:g}]" if self.low is not None else "")
        else:
            text = self.kind
            number = (lambda v: f"{int(v):,}") if self.kind == "int" else (lambda v: f"{v:g}")
            low = "(0" if self.positive else (f"[{number(self.low)}" if self.low is not None else None)
            high = f"{number(self.high)}]" if self.high is not None else None
            if low and high:
                text += f" in {low}, {high}"
            elif low:
                text += " > 0" if self.positive else f" >= {number(self.low)}"
            elif high:
                text += f" <= {number(self.high)}"
        return text + (" or null" if self.nullable else "")


# The largest count any setting can hold: a number of images, epochs or workers beyond it is no setting but a
# typo (1e30), and it would fail far from here (in an islice, a seeder, a worker pool) instead of in one line.
COUNT_LIMIT = 2**31 - 1
SEED_LIMIT = 2**32 - 1  # what numpy's and Python's seeders take


def _int(low=None, high=COUNT_LIMIT, nullable=False, positive=False) -> Field:
    return Field("int", nullable=nullable, low=low, high=high, positive=positive)


def shown(value: Any) -> str:
    """A value quoted in an error message, cut short: a YAML bomb's repr would hold hundreds of millions of items."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 6, 6, 60, 60


def _float(low=None, high=None, nullable=False, positive=False) -> Field:
    return Field("float", nullable=nullable, low=low, high=high, positive=positive)


SCHEMA: dict[str, Field] = {
    "seed": _int(low=0, high=SEED_LIMIT),
    "data.seed": _int(low=0, high=SEED_LIMIT, nullable=True),
    "data.source": Field("choice", choices=("synthetic", "isbi2015", "aariz", "folder", "cldetection2023")),
    "data.root": Field("path", nullable=True),
    "data.csv": Field("path", nullable=True),
    "data.train_split": Field("str", nullable=True),
    "data.val_split": Field("str", nullable=True),
    "data.val_fraction": _float(positive=True, high=0.9),
    "data.limit_train": _int(nullable=True, positive=True),
    "data.limit_val": _int(nullable=True, positive=True),
    "data.landmarks": Field("names", nullable=True),
    "data.input_size": Field("size"),
    "data.batch_size": _int(positive=True),
    "data.num_workers": _int(low=0, high=256),  # each worker holds the dataset: more never load faster
    "data.pin_memory": Field("auto_bool"),
    "data.augment": Field("bool"),
    "data.train_subset": _int(low=0),
    "data.synthetic.train_images": _int(positive=True),
    "data.synthetic.val_images": _int(positive=True),
    "data.synthetic.render_size": Field("size"),
    "data.synthetic.annotators": _int(low=1, high=8),
    "data.synthetic.annotator_spread_mm": _float(low=0, high=50),
    "augment.rotate_deg": _float(low=0, high=180),
    "augment.scale": _float(low=0, high=0.9),
    "augment.translate": _float(low=0, high=0.5),
    "augment.brightness": _float(low=0, high=1),
    "augment.contrast": _float(low=0, high=1),
    "augment.flip": Field("bool"),
    "augment.flip_pairs": Field("pairs", nullable=True),
    "augment.braces": _float(low=0, high=1),
    "codec.sigma": _float(positive=True, high=64),
    "codec.stride": Field("choice", choices=("1", "2", "4"), nullable=True),
    # The registries' choices: one module each in models/architectures, models/heads, models/losses.
    "model.arch": Field("choice", choices=architectures.names()),
    "model.head": Field("choice", choices=heads.names()),
    "model.loss": Field("choice", choices=("auto", *losses.names())),
    "model.sequence.dim": _int(positive=True, high=1024),
    "model.sequence.layers": _int(positive=True, high=12),
    "model.sequence.heads": _int(positive=True, high=32),
    "model.sequence.offsets": Field("bool"),
    "model.sequence.support": Field("bool"),
    "model.regression.hidden": _int(positive=True, high=8192),
    "model.resnet.depth": Field("choice", choices=("18", "34", "50")),
    "model.aux.label": Field("str", nullable=True),
    "model.aux.kind": Field("choice", choices=("classes", "value")),
    "model.aux.classes": _int(low=2, high=1000),
    "model.refine.enabled": Field("bool"),
    "model.refine.scale": _int(low=1, high=8),
    "model.refine.crop": _int(low=8, high=256),
    "model.refine.jitter": _float(low=0, high=64),
    "model.refine.channels": _int(positive=True, high=256),
    "model.refine.after_epoch": _int(low=1, nullable=True),
    "model.channels": _int(positive=True, high=256),
    "model.width": Field("choice", choices=("18", "32", "48")),
    "model.pretrained": Field("path", nullable=True),
    "model.unfreeze_after": Field("int_or_never", nullable=True),
    "loss.terms": Field("weights", nullable=True, choices=losses.names()),
    "loss.aux_weight": _float(low=0, high=1000),
    "optimizer.lr": _float(positive=True, high=10),
    "optimizer.weight_decay": _float(low=0, high=10),
    "train.max_epochs": _int(positive=True),
    "train.val_interval": _int(positive=True),
    "train.warmup_epochs": _float(low=0),
    "train.schedule": Field("choice", choices=("cosine", "constant", "step", "one_cycle", "plateau")),
    "train.lr_gamma": _float(positive=True, high=1),
    "train.lr_milestones": Field("fractions"),
    "train.plateau_patience": _int(positive=True),
    "train.grad_clip": _float(nullable=True, positive=True),
    "train.accumulate": _int(positive=True),
    "train.amp": Field("auto_bool"),
    "train.ema": _float(nullable=True, low=0, high=0.99999),
    "train.compile": Field("bool"),
    "train.device": Field("str"),
    "train.threads": _int(positive=True, nullable=True),
    "train.log_every": _int(positive=True),
    "train.checkpoint_every_val": Field("bool"),
    "train.early_stopping.patience": _int(nullable=True, positive=True),
    "train.early_stopping.metric": Field("str"),
    "train.doctor.enabled": Field("bool"),
    "train.doctor.stop_on": Field("choice", choices=("error", "warning", "never")),
    "train.doctor.milestones": Field("milestones", nullable=True),
    "train.doctor.reference": Field("path", nullable=True),
    "train.scheduled_sampling": Field("choice", nullable=True, choices=SCHEDULES),
    "eval.tta.flip": Field("bool"),
    "eval.tta.scales": Field("numbers", low=0.5, high=2.0),
    "eval.tta.rotations": Field("numbers", low=-45, high=45),
    "eval.tta.flip_pairs": Field("pairs", nullable=True),
    "faults.skip_stride_rescale": Field("bool"),
    "faults.train_label_noise": _float(low=0, high=0.5),
    "faults.shuffle_aux_labels": Field("bool"),
    "faults.refine_swapped_pairs": Field("pairs", nullable=True),
    "faults.swap_labels": Field("pairs", nullable=True),
    "faults.swap_labels_share": _float(low=0, high=1),
    "faults.wrong_labels_share": _float(low=0, high=1),
    "faults.slow_loader_s": _float(low=0, high=10),
}

# Values with a fixed set of integers are written as choices of strings above
# so the message can list them; these keys convert back to int after checking.
INT_CHOICES = {"codec.stride", "model.width", "model.resnet.depth"}


def coerce(key: str, field: Field, value: Any) -> Any:
    """Return `value` converted to the field's kind, or raise ValueError(reason)."""
    if value is None:
        if field.nullable:
            return None
        raise ValueError("may not be null")
    kind = field.kind
    if kind == "choice":
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text not in field.choices:
            raise ValueError(f"{shown(value)} is not one of {', '.join(field.choices)}")
        return int(text) if key in INT_CHOICES else text
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"{shown(value)} is not true or false")
    if kind == "auto_bool":
        if isinstance(value, bool) or value == "auto":
            return value
        raise ValueError(f"{shown(value)} is not auto, true or false")
    if kind == "int_or_never":
        if value == "never":
            return value
        kind = "int"
        field = Field("int", low=0)
    if kind in ("str", "path"):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{shown(value)} is not a string")
    if kind == "names":
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError(f"{shown(value)} is not a non-empty list of landmark names")
    if kind == "size":
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            return [int(v) for v in value]
        raise ValueError(f"{shown(value)} is not [width, height] of positive integers")
    if kind == "fractions":
        numbers = list(value) if isinstance(value, (list, tuple)) else None
        if (numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in numbers)
                and all(a < b for a, b in zip(numbers, numbers[1:]))):
            return [float(v) for v in numbers]
        raise ValueError(f"{shown(value)} is not a rising list of fractions in (0, 1)")
    if kind == "weights":
        return _weights(field, value)
    if kind == "milestones":
        return _milestones(value)
    if kind == "pairs":
        if isinstance(value, (list, tuple)) and all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(n, str) for n in pair)
                for pair in value):
            return [list(pair) for pair in value]
        raise ValueError(f"{shown(value)} is not a list of [name, name] pairs")
    if kind == "numbers":
        if isinstance(value, (list, tuple)):
            return [_coerce_number(Field("float", low=field.low, high=field.high), "float", v) for v in value]
        raise ValueError(f"{shown(value)} is not a list of numbers")
    return _coerce_number(field, kind, value)


def _weights(field: Field, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{shown(value)} is not a mapping of names to weights")
    for name in value:
        if name not in field.choices:
            raise ValueError(f"{shown(name)} is not one of {', '.join(field.choices)}")
    return {name: _coerce_number(Field("float", positive=True), "float", weight) for name, weight in value.items()}


def _milestones(value: Any) -> dict[int, dict[str, float]]:
    """{epoch: {metric: value}}; epochs may come as text (a manifest's JSON keys)."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{shown(value)} is not a mapping of epochs to {{metric: value}}")
    milestones = {}
    for epoch, targets in value.items():
        number = int(epoch) if isinstance(epoch, str) and epoch.isdigit() else epoch
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= COUNT_LIMIT:
            raise ValueError(f"{shown(epoch)} is not an epoch (an integer >= 1)")
        if not isinstance(targets, dict) or not targets or not all(isinstance(tag, str) for tag in targets):
            raise ValueError(f"epoch {number}: {shown(targets)} is not a mapping of metrics to values")
        milestones[number] = {tag: float(_coerce_number(Field("float"), "float", target))
                              for tag, target in targets.items()}
    return dict(sorted(milestones.items()))


def _coerce_number(field: Field, kind: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{shown(value)} is not a number")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{shown(value)} is not an integer")
        value = int(value)
    else:
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{shown(value)} is not finite")
    too_low = (field.low is not None and value < field.low) or (field.positive and value <= 0)
    too_high = field.high is not None and value > field.high
    if too_low or too_high:
        raise ValueError(f"{shown(value)} is out of range")
    return value
