"""Signals: named measurements of a run, each with its unit and the epoch it refers to.

A signal function takes a `Run` (see `ceph_doctor.store.reader.Run`) and returns
`Signal`s. It never judges and never prints: rules (rules/*.yaml) do the judging.
When a run lacks what a signal needs, the function raises `MissingInput` with a
sentence saying what to log, and the report lists it under "not checked"; when the
run's own config switches off the part a family judges (a heatmap run has no
sequence decoder), `NotApplicable`, and its rules are simply not for this run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ceph_doctor.store.reader import Run


@dataclass(frozen=True)
class Signal:
    name: str  # dotted, e.g. "collapse.spread_ratio"
    value: Any  # float | int | bool | str | list[str]
    unit: str = ""  # how the value reads (ceph_doctor.numbers): "change", "share", "×", "px", "mm", "epoch", "steps", "%", ""…
    epoch: int | None = None  # the epoch the value refers to (onset, best, last…)
    description: str = ""


class MissingInput(Exception):
    """A signal cannot be computed from this run; the message says what to log."""


class NotApplicable(MissingInput):
    """The run has no such part (its own config says so): nothing to log, nothing to check."""


class PartNotSeen(MissingInput):
    """Another tool's run whose logs show no trace of the part a family judges (no autoregressive loss, no
    refined predictions…): most likely the model has no such part. Its checks are named once, as parts not
    seen, rather than one "not checked" line per signal on every run."""

    def __init__(self, part: str, needs: str):
        super().__init__(needs)
        self.part = part


def part_unseen(run: Run, tag_says: Callable[[str], bool], decodes: tuple[str, ...] = ()) -> bool:
    """Whether another tool's run shows no trace of a part: no logged tag `tag_says` is about it, and no
    predictions were recorded under one of its `decodes`. Never for ceph-doctor's own runs (their config says)."""
    if run.source == "ceph-doctor":
        return False
    if any(tag_says(tag) for tag in run.tags):
        return False
    table = run.prediction_table
    return not (decodes and "decode" in table and not set(decodes).isdisjoint(table["decode"].tolist()))


_UNSET = object()


def own_setting(run: Run, key: str, default: Any = _UNSET) -> Any:
    """The dotted `key` of the config ceph-doctor recorded for this run, or `default` (`_UNSET` unless given) where
    it has none (other tools' runs carry no complete config; older runs lack newer keys)."""
    value: Any = (run.manifest.get("config") or {}) if run.source == "ceph-doctor" else {}
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def switched_off(run: Run, key: str, is_off: Callable[[Any], bool]) -> bool:
    """Whether this run's own config sets `key` to a value `is_off` accepts; never known for other tools' runs."""
    value = own_setting(run, key)
    return value is not _UNSET and is_off(value)


SignalFunction = Callable[[Run], Iterable[Signal]]


@dataclass
class SignalFamily:
    name: str
    function: SignalFunction
    provides: tuple[str, ...]


@dataclass
class SignalSet:
    values: dict[str, Signal] = field(default_factory=dict)
    # family name → what to log to make it checkable
    missing: dict[str, str] = field(default_factory=dict)
    # family name → why it does not apply to this run (the part is switched off)
    inapplicable: dict[str, str] = field(default_factory=dict)
    # family name → the part another tool's logs show no trace of ("a sequence decoder")
    unseen: dict[str, str] = field(default_factory=dict)
    # how this run names a point in training: epoch 15, or a validation and its iteration
    when: Callable[[int], str] | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.values


REGISTRY: dict[str, SignalFamily] = {}


def signal_family(name: str, provides: Iterable[str]):
    """Register a function computing the signals `provides` (all named `<name>.<…>`)."""

    def register(function: SignalFunction) -> SignalFunction:
        REGISTRY[name] = SignalFamily(name, function, tuple(provides))
        return function

    return register
