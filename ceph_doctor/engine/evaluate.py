"""From signals and rules to diagnoses: test each condition, render its message, quote its evidence.

Rules never compute and signals never judge; this module only joins the two. A rule whose
signals this run lacks is not guessed at: it becomes a "not checked" entry saying what to log.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ceph_doctor.engine.diagnosis import SEVERITIES, Diagnosis, NotChecked
from ceph_doctor.engine.expr import MissingSignal, plain
from ceph_doctor.engine.messages import EVIDENCE_DIGITS, MessageTemplate

if TYPE_CHECKING:
    from ceph_doctor.engine.rules import Rule
    from ceph_doctor.signals.base import SignalSet

def diagnose(signals: SignalSet, rules: Iterable[Rule]) -> tuple[list[Diagnosis], list[NotChecked]]:
    """Each rule judged on `signals`: the diagnoses that fire, and what could not be checked.

    Diagnoses come most important first: by severity (error first), then root causes before what they
    cause (a rule that explains more of the others comes first), then by onset (the earliest first), then
    id. A treatment plan takes the first diagnosis asking for a key as the one that decides it. "Not
    checked" holds one entry per missing signal, however many rules needed it, with the `needs` text of
    its family.
    """
    rules = list(rules)
    values = {name: plain(signal.value) for name, signal in signals.values.items()}
    diagnoses: list[Diagnosis] = []
    not_checked: dict[str, NotChecked] = {}
    for rule in rules:
        missing = [name for name in rule.required_signals if name not in values]
        fired = False
        if not missing:
            try:
                fired = rule.holds(values)
            except MissingSignal as error:  # read outside its exists() guard
                missing = [error.name]
        for name in missing:
            family = name.split(".", 1)[0]
            # A part the run does not have (its config says so), or of which its logs show no trace: said once
            # as a part not seen (RunReport.unseen_parts), not as a signal to log.
            if family not in signals.inapplicable and family not in signals.unseen:
                not_checked.setdefault(name, NotChecked(signal=name, needs=_needs(signals, name)))
        if fired:
            diagnoses.append(_diagnosis(rule, signals, values))
    explains = {rule.id: rule.explains for rule in rules}
    reach = {rule_id: len(_explained_by(rule_id, explains)) for rule_id in explains}
    diagnoses.sort(key=lambda d: (SEVERITIES.index(d.severity), -reach.get(d.id, 0),
                                  math.inf if d.epoch is None else d.epoch, d.id))
    return fold_explained(diagnoses, explains), sorted(not_checked.values(), key=lambda entry: entry.signal)


def fold_explained(diagnoses: list[Diagnosis], explains: Mapping[str, Iterable[str]]) -> list[Diagnosis]:
    """Each diagnosis that another fired one explains goes under it (`Diagnosis.explains`), not beside it.

    Chains fold to their top: a diverged run's lr-too-high goes under diverged, and so does what
    lr-too-high itself would explain. Of several explainers the first (most severe) is taken. The rule
    pack's `explains` graph has no cycles (checked when the rules load), so every chain has a top.
    """
    fired = {diagnosis.id: diagnosis for diagnosis in diagnoses}

    def top(diagnosis_id: str) -> str:
        parent = next((d.id for d in diagnoses if diagnosis_id in explains.get(d.id, ())), None)
        return diagnosis_id if parent is None else top(parent)

    kept = []
    for diagnosis in diagnoses:
        root = top(diagnosis.id)
        if root == diagnosis.id:
            kept.append(diagnosis)
        else:
            fired[root].explains.append(diagnosis)
    return kept


def _explained_by(rule_id: str, explains: Mapping[str, Iterable[str]]) -> set[str]:
    """Every id `rule_id` explains, directly or through the ids it explains (the graph has no cycles)."""
    found: set[str] = set()
    pending = list(explains.get(rule_id, ()))
    while pending:
        other = pending.pop()
        if other not in found:
            found.add(other)
            pending.extend(explains.get(other, ()))
    return found


def _needs(signals: SignalSet, name: str) -> str:
    family = name.split(".", 1)[0]
    return signals.missing.get(family) or f"{family} records from which {name} can be measured (these gave none)"


def _diagnosis(rule: Rule, signals: SignalSet, values: Mapping[str, Any]) -> Diagnosis:
    epoch = onset_epoch(signals, rule.epoch)
    landmarks = landmark_names(values, rule.landmarks)
    return Diagnosis(
        id=rule.id,
        severity=rule.severity,
        title=rule.title,
        message=_message(rule, values).render(signals.values, epoch, landmarks, signals.when),
        epoch=epoch,
        landmarks=landmarks,
        evidence={name: json_value(values[name]) for name in rule.evidence if name in values},
        units={name: signals.values[name].unit for name in rule.evidence
               if name in values and signals.values[name].unit},
        fixes=rule.fixes_for(values),
    )


def _message(rule: Rule, values: Mapping[str, Any]) -> MessageTemplate:
    """The first alternative whose condition holds (one reading a missing signal does not), else the default."""
    for condition, template in rule.message_cases:
        try:
            if condition.holds(values):
                return template
        except MissingSignal:
            continue
    return rule.message


def onset_epoch(signals: SignalSet, name: str | None) -> int | None:
    """The signal's value when it is an epoch (unit "epoch", or an integer with no .epoch), else its .epoch."""
    signal = signals.values.get(name) if name else None
    if signal is None:
        return None
    value = plain(signal.value)
    if signal.unit in ("epoch", "epochs") or signal.epoch is None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # false for NaN and inf
            return int(value)
    return None if signal.epoch is None else int(plain(signal.epoch))


def landmark_names(values: Mapping[str, Any], name: str | None) -> list[str]:
    value = values.get(name) if name else None
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def json_value(value: Any) -> Any:
    """A signal value as JSON can hold it: floats to a few significant digits, NaN and ±inf as null."""
    value = plain(value)
    if isinstance(value, float):
        return float(f"{value:.{EVIDENCE_DIGITS}g}") if math.isfinite(value) else None
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
