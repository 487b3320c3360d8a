"""The doctor that judges a run while it is written: after each validation the run so far is analyzed as
`ceph-doctor analyze` would analyze it then, and what is new is told once.

    doctor = LiveDoctor(stop_on="error")
    for validation in ...:                      # the trainer's hook, the MMEngine hook, the Lightning callback,
        verdict = doctor.judge(run_so_far)      # or `ceph-doctor watch` polling a folder another process writes
        verdict.found, verdict.cleared, verdict.stop
    doctor.conclude(finished_run)               # what the finished run's analysis says and was not yet told

A finding is told once it has held for `confirm` validations in a row, at a validation where the monitored
metric did not set a new best (the first validation always does) — unless its rule says `while_learning: true`
(a finding about the run's pace or its data loader, which learning does not cure). A run that is still setting bests is
learning: what looks wrong with it then (points still gathered at the mean, a shrunk copy of the truth, a
refinement not yet trained) is often how training starts, and the run may grow out of it. So a run is never
stopped while it improves, and what the rules see in it waits until it stalls — or until the run ends, when
`conclude` tells what the analysis of the finished run says. A told finding is cleared once it has been
absent for `confirm` validations in a row, so one that flickers is not told again and again. The rules are
not changed for any of this: one rule pack judges the run live and finished.

Nothing here prints or writes files: `live_doctor` prints what is told and keeps the run's doctor record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ceph_doctor.analyze import analyze_run
from ceph_doctor.engine.diagnosis import SEVERITIES, Diagnosis, RunReport

STOP_ON = ("error", "warning", "never")
CONFIRM = 2  # validations in a row a finding must hold before it is told


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    title: str
    message: str
    epoch: int  # the validation at which the doctor told it
    onset: int | None  # the epoch the diagnosis itself names (where the fault began), when it names one
    final: bool = False  # told by `conclude`, on the finished run

    def to_json(self, event: str) -> dict[str, Any]:
        return {"event": event, "epoch": self.epoch, "id": self.id, "severity": self.severity,
                "onset": self.onset, "title": self.title, "message": self.message,
                **({"final": True} if self.final else {})}


@dataclass
class Verdict:
    epoch: int | None  # the last validation the run had when it was judged
    found: list[Finding] = field(default_factory=list)  # told for the first time now
    cleared: list[Finding] = field(default_factory=list)  # told before, no longer holding
    stop: Finding | None = None  # the finding that should end the run, under `stop_on`
    report: RunReport | None = None  # the analysis it came from
    held_back: bool = False  # the metric set a new best (or this is the first validation): only while_learning told


class LiveDoctor:
    def __init__(self, rules=None, stop_on: str = "never", confirm: int = CONFIRM, reference=None):
        """`reference`: a finished Run to race against (else the one the run's config names, if any)."""
        from ceph_doctor.engine import load_rules

        if stop_on not in STOP_ON:
            raise ValueError(f"stop_on must be one of {', '.join(STOP_ON)}, not {stop_on!r}")
        self.rules = rules if rules is not None else load_rules()
        self.stop_on = stop_on
        self.confirm = confirm
        self.reference = reference
        self.while_learning = {rule.id for rule in self.rules if rule.while_learning}  # told even at a new best
        self.streak: dict[str, int] = {}  # id → validations in a row it has held, up to the last judged
        self.told: dict[str, Finding] = {}  # id → the finding as told, until it is cleared
        self.absent: dict[str, int] = {}  # a told id → validations in a row it has not held
        self.last_epoch: int | None = None

    def resume_from(self, events: list[dict[str, Any]]) -> None:
        """Take up a doctor record (`read_record`): what was found and not cleared is still told and holding."""
        for event in events:
            rule_id = event.get("id")
            if event.get("event") == "found" and isinstance(rule_id, str):
                severity = event.get("severity") if event.get("severity") in SEVERITIES else "info"
                self.told[rule_id] = Finding(rule_id, severity, event.get("title", rule_id),
                                             event.get("message", ""), event.get("epoch"), event.get("onset"))
                self.streak[rule_id] = self.confirm
            elif event.get("event") == "cleared":
                self.told.pop(rule_id, None)
                self.streak.pop(rule_id, None)
        self.absent = {rule_id: 0 for rule_id in self.told}

    def judge(self, run) -> Verdict:
        """The run as it stands after its latest validation; judging the same validation twice tells nothing new."""
        epoch = _last_validation(run)
        if epoch is None or epoch == self.last_epoch:
            return Verdict(epoch)
        self.last_epoch = epoch
        report = analyze_run(run, self.rules, self.reference)
        holding = {diagnosis.id: diagnosis for diagnosis in report.diagnoses}
        self.streak = {rule_id: self.streak.get(rule_id, 0) + 1 for rule_id in holding}
        self.absent = {rule_id: 0 if rule_id in holding else self.absent.get(rule_id, 0) + 1 for rule_id in self.told}
        verdict = Verdict(epoch, report=report, held_back=_still_improving(report))
        for rule_id in [rule_id for rule_id, absent in self.absent.items() if absent >= self.confirm]:
            verdict.cleared.append(self.told.pop(rule_id))
            del self.absent[rule_id]
        self._tell(verdict, [d for d in holding.values() if self.streak[d.id] >= self.confirm
                             and (not verdict.held_back or d.id in self.while_learning)])
        return verdict

    def conclude(self, run) -> Verdict:
        """The finished run: what its analysis says and was not told while it trained (held back while the run
        improved, or not yet confirmed), told now; nothing is stopped any more."""
        report = analyze_run(run, self.rules, self.reference)
        verdict = Verdict(_last_validation(run), report=report)
        self._tell(verdict, report.diagnoses, final=True)
        verdict.stop = None
        return verdict

    def _tell(self, verdict: Verdict, diagnoses: list[Diagnosis], final: bool = False) -> None:
        for diagnosis in sorted(diagnoses, key=lambda d: SEVERITIES.index(d.severity)):
            if diagnosis.id in self.told:
                continue
            finding = _finding(diagnosis, verdict.epoch, final)
            self.told[diagnosis.id] = finding
            self.absent[diagnosis.id] = 0
            verdict.found.append(finding)
            if verdict.stop is None and stops(finding.severity, self.stop_on):
                verdict.stop = finding


def stops(severity: str, stop_on: str) -> bool:
    """Whether a finding of `severity` ends a run under `stop_on` (error | warning | never)."""
    return stop_on != "never" and SEVERITIES.index(severity) <= SEVERITIES.index(stop_on)


def stop_reason(finding: Finding) -> str:
    """The reason a stopped run's manifest and terminal give."""
    since = f", since epoch {finding.onset}" if finding.onset is not None and finding.onset != finding.epoch else ""
    return f"stopped by the doctor at epoch {finding.epoch}: {finding.id} ({finding.severity}{since}): {finding.title}"


def tell(finding: Finding, verdict_epoch: int | None = None, cleared: bool = False) -> str:
    """One line (rich markup) for a finding as it appears or clears."""
    colour = {"error": "red", "warning": "yellow", "info": "blue"}[finding.severity]
    if cleared:
        return f"[dim]doctor, epoch {verdict_epoch}: {finding.id} no longer holds[/]"
    since = f" (since epoch {finding.onset})" if finding.onset is not None and finding.onset != finding.epoch else ""
    when = "at the end" if finding.final else f"epoch {finding.epoch}"
    return (f"[bold]doctor, {when}[/]: [{colour}]{finding.severity}[/] [bold]{finding.id}[/]{since}: "
            f"{finding.title}")


def _finding(diagnosis: Diagnosis, epoch: int | None, final: bool = False) -> Finding:
    return Finding(diagnosis.id, diagnosis.severity, diagnosis.title or diagnosis.id, diagnosis.message, epoch,
                   diagnosis.epoch, final)


def validation_epochs(run) -> list[int]:
    """The epochs at which the run validated: its prediction files, else its monitored metric's rows."""
    if not run.prediction_table.empty:
        return [int(epoch) for epoch in run.prediction_table.unique("epoch")]
    monitor = run.monitor
    if monitor is None:
        return []
    return sorted({int(epoch) for epoch in run.series(monitor.metric).epoch})


def _last_validation(run) -> int | None:
    epochs = validation_epochs(run)
    return epochs[-1] if epochs else None


def _still_improving(report: RunReport) -> bool:
    """Whether the latest validation set the monitored metric's best (the first one always does)."""
    since_best = report.signals.values.get("metric.validations_since_best") if report.signals else None
    if since_best is None or not isinstance(since_best.value, (int, float)) or math.isnan(since_best.value):
        return False
    return since_best.value == 0
