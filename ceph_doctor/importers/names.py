"""Other tools' metric names → the run's tags, decided for all the names of one run together.

Each name is read by its parts (`ceph_doctor.store.meaning`); what one name cannot say alone is
decided from its neighbours in the same run:

- the split of a name that gives none: a loss is training's; a metric is validation's, unless the
  same metric is also logged with a validation prefix (Keras' `accuracy` beside `val_accuracy` is
  the training accuracy);
- `test_*` names logged while no validation split is: read as validation (and said so);
- two names for one tag (`train_loss_step` and `train_loss_epoch`): the per-step one keeps the tag,
  the other gets its aggregation as a suffix; any other clash keeps the logged name.

`--map CANON=THEIRS` entries win over all of this. Every name ends in the names table, with what it
was understood as and, for what was not placed, a one-line hint for `--map`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from ceph_doctor.errors import UserInputError
from ceph_doctor.store import meaning as grammar
from ceph_doctor.store.meaning import Meaning


@dataclass(frozen=True)
class Logged:
    """A name as a log holds it, with what the format itself says about it."""

    name: str
    split: str | None = None  # the split the format put it in (MMEngine's val lines, HF's eval records)
    unit: str | None = None  # a unit printed after the value ("3.21 mm", "45.2%")


@dataclass(frozen=True)
class NameRow:
    """One line of the names table (`analyze --show-names`)."""

    logged: str  # the name exactly as logged
    split: str | None  # the split the format put it in, if it said
    tag: str | None  # where its values went; None: not a scalar of the run (time, memory, counters)
    understood: str  # Meaning.describe(), or how it was mapped
    note: str = ""


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

    def resolve(self, keys: Iterable[Logged]) -> tuple[dict[Logged, str | None], list[NameRow], list[str]]:
        """Every key's tag (None: dropped), the names table, and notes on run-wide decisions."""
        keys = list(dict.fromkeys(keys))
        meanings = {key: _with_unit(grammar.parse(key.name), key.unit) for key in keys}
        notes: list[str] = []
        explicit = {key: meanings[key].split or key.split for key in keys}
        if "val" not in explicit.values() and "test" in explicit.values():
            explicit = {key: "val" if split == "test" else split for key, split in explicit.items()}
            notes.append("no validation split logged: the test_* values are read as validation")
        validated = {_stem(meanings[key]) for key in keys if explicit[key] == "val"}
        tags: dict[Logged, str | None] = {}
        rows: dict[Logged, NameRow] = {}
        for key in keys:
            if key.name in self.user:
                tags[key] = self.user[key.name]
                rows[key] = NameRow(key.name, key.split, tags[key], f"--map {self.user[key.name]}={key.name}")
                continue
            meaning = meanings[key]
            split = explicit[key] or _default_split(meaning, validated)
            tags[key] = grammar.tag(meaning, split)
            rows[key] = NameRow(key.name, key.split, tags[key], meaning.describe(), _note(meaning, tags[key]))
        for key, tag in _settle_clashes(tags, meanings).items():
            if tag != tags[key]:
                tags[key] = tag
                rows[key] = replace(rows[key], tag=tag, note="another name of this run already holds the canonical tag")
        return tags, list(rows.values()), notes

    def declared_monitor(self, tags: Iterable[str]) -> dict[str, str] | None:
        """A `--map` onto a validation metric: the user said which metric matters."""
        present = set(tags)
        for theirs, canonical in self.user.items():
            meaning = grammar.parse(canonical)
            if canonical in present and meaning.split == "val" and meaning.quantity != "loss":
                mode = meaning.direction or grammar.direction(theirs)
                if mode:
                    return {"metric": canonical, "mode": mode, "why": f"--map {canonical}={theirs}"}
        return None


def _with_unit(meaning: Meaning, unit: str | None) -> Meaning:
    return replace(meaning, unit=unit) if unit and meaning.unit is None else meaning


def _stem(meaning: Meaning) -> tuple:
    """A name's parts other than its split: `accuracy` and `val_accuracy` share one."""
    return (meaning.quantity, meaning.unit, meaning.threshold, meaning.decode, meaning.subject)


def _default_split(meaning: Meaning, validated: set) -> str | None:
    if meaning.quantity == "loss" or meaning.quantity == "teacher_forcing":
        return "train"
    if meaning.is_metric:
        return "train" if _stem(meaning) in validated else "val"
    if meaning.quantity == "heatmap_peak":
        return "val"
    return None


def _note(meaning: Meaning, tag: str | None) -> str:
    if meaning.quantity is None:
        return f"not placed; if it is a landmark metric, name it: --map val/mre_mm={meaning.name} (or val/pck, …)"
    if tag is None:
        return "not a training scalar; left out"
    return ""


_AGGREGATION_RANK = {"step": 0, None: 1, "epoch": 2, "best": 3}


def _settle_clashes(tags: dict[Logged, str | None], meanings: dict[Logged, Meaning]) -> dict[Logged, str | None]:
    """One key per tag: the finest-grained keeps it (a per-step loss over its per-epoch mean)."""
    by_tag: dict[str, list[Logged]] = {}
    for key, tag in tags.items():
        if tag is not None:
            by_tag.setdefault(tag, []).append(key)
    settled = dict(tags)
    taken = set(by_tag)
    for tag, keys in by_tag.items():
        if len(keys) == 1:
            continue
        keys.sort(key=lambda k: (_AGGREGATION_RANK.get(meanings[k].aggregation, 1), len(meanings[k].subject),
                                 len(k.name), k.name))
        for key in keys[1:]:
            aggregation = meanings[key].aggregation
            candidate = f"{tag}_{aggregation}" if aggregation else f"{tag.split('/', 1)[0]}/{key.name}"
            while candidate in taken:
                candidate += "'"
            taken.add(candidate)
            settled[key] = candidate
    return settled
