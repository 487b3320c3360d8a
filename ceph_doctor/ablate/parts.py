"""The parts of a pipeline that an ablation switches off: named patches on canonical config keys.

A part says only how to switch it off (`off`: key → value). Whether a config has it on is read
from the same patch (any of its keys set otherwise), and switching it back on, from a baseline
that has every part off, restores the full config's own values of those keys: one patch serves
both directions, and a user's part needs nothing more than its name and keys.

    ceph-doctor ablate --config my.yaml --part "lips=augment.flip=false,augment.flip_pairs=null"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ceph_doctor.config import defaults, get_value, parse_override, patched
from ceph_doctor.errors import ConfigError


@dataclass(frozen=True)
class Part:
    name: str
    off: tuple[tuple[str, Any], ...]  # (key, value) pairs that switch it off
    description: str = ""
    automatic: bool = True  # ablated when the config has it on and no --parts list is given
    # Whether a config has the part, where that is narrower than "any key differs from off".
    present: Callable[[dict], bool] | None = None

    def is_on(self, config: dict) -> bool:
        if self.present is not None:
            return self.present(config)
        return any(get_value(config, key) != value for key, value in self.off)

    def switched_off(self) -> dict[str, Any]:
        return dict(self.off)

    def as_found_in(self, config: dict) -> dict[str, Any]:
        """The same keys at the values `config` gives them: what switches the part back on."""
        return {key: get_value(config, key) for key, _ in self.off}


_WING_LOSSES = ("adaptive_wing", "coordinate_wing")


def _has_wing_loss(config: dict) -> bool:
    # A particular loss, not any chosen one: a config with coordinate_l1 has no Wing to remove.
    terms = get_value(config, "loss.terms") or {}
    return get_value(config, "model.loss") in _WING_LOSSES or any(term in _WING_LOSSES for term in terms)


def _part(name: str, description: str, automatic: bool = True, present=None, **off: Any) -> Part:
    return Part(name, tuple((key.replace("__", "."), value) for key, value in off.items()), description, automatic,
                present)


# Keys are written with `__` for the dots (Python keywords); each part patches only what it owns.
BUILTIN_PARTS: dict[str, Part] = {part.name: part for part in (
    _part("augment.flip", "horizontal flips of the training images", augment__flip=False),
    _part("augment.rotate", "random rotation of the training images", augment__rotate_deg=0.0),
    _part("augment.scale", "random zoom of the training images", augment__scale=0.0),
    _part("augment.translate", "random shifts of the training images", augment__translate=0.0),
    _part("augment.brightness", "brightness and contrast jitter", augment__brightness=0.0, augment__contrast=0.0),
    _part("augment.braces", "synthetic braces drawn on training images", augment__braces=0.0),
    # The whole augmentation overlaps each of the above: asked for by name only.
    _part("augment", "every training augmentation at once", automatic=False, data__augment=False),
    _part("loss.wing", "a Wing-family loss in place of the head's own", present=_has_wing_loss,
          model__loss="auto", loss__terms=None),
    _part("model.aux", "the second task on the shared backbone", model__aux__label=None),
    _part("model.refine", "the refinement stage", model__refine__enabled=False),
    _part("eval.tta", "test-time augmentation", eval__tta__flip=False, eval__tta__scales=[], eval__tta__rotations=[]),
    _part("train.ema", "the weights' moving average", train__ema=None),
    _part("train.warmup", "the learning-rate warm-up", train__warmup_epochs=0),
    _part("train.grad_clip", "gradient clipping", train__grad_clip=None),
    _part("model.pretrained", "pretrained backbone weights", model__pretrained=None),
)}

# A new key starts after a comma only where `key=` follows, so list values keep their commas: a=[1,2],b=3
_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.]*\s*=)")


def parse_part(text: str) -> Part:
    """`NAME=KEY=VALUE[,KEY=VALUE]` (the `--part` option) as a Part; a malformed one is refused in one line."""
    name, _, patch = text.partition("=")
    name = name.strip()
    if not name or not patch.strip():
        raise ConfigError(f"--part {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE], e.g. hflip=augment.flip=false")
    try:
        patch = dict(parse_override(item.strip()) for item in _NEXT_KEY.split(patch))
        checked = patched(defaults(), patch)  # unknown keys and bad values refused, values as the schema keeps them
    except ConfigError as error:
        raise ConfigError(f"--part {name}: {error}") from None
    return Part(name, tuple((key, get_value(checked, key)) for key in patch), "given with --part")


def choose_parts(config: dict, names: Iterable[str] | None, extra: Iterable[Part] = ()) -> tuple[list[Part], list[str]]:
    """The parts to ablate, and a note for each asked-for part the config does not have on.

    Without `names`: every automatic built-in part the config has on, then the user's own parts.
    """
    own = {part.name: part for part in extra}  # a user's part of a built-in name replaces it
    known = {**BUILTIN_PARTS, **own}
    notes: list[str] = []
    if names is None:
        automatic = [name for name, part in BUILTIN_PARTS.items() if part.automatic and part.is_on(config)]
        chosen = [known[name] for name in dict.fromkeys([*automatic, *own])]
    else:
        chosen = []
        for name in names:
            if name not in known:
                raise ConfigError(f"--parts: unknown part {name!r}; known: {', '.join(sorted(known))} "
                                  "(or define it with --part NAME=KEY=VALUE)")
            chosen.append(known[name])
    kept = []
    for part in chosen:
        if part.is_on(config):
            kept.append(part)
        else:
            notes.append(f"{part.name}: already off in this config ({_patch_text(part.switched_off())}), not ablated")
    if not kept:
        raise ConfigError("ablate: no part of this config is on to switch off"
                          + (f" ({'; '.join(notes)})" if notes else ""))
    return kept, notes


def _patch_text(patch: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in patch.items())
