"""The treatment plan: every diagnosis's fixes merged into one change per config key.

A run with several diagnoses gets several fixes, often on the same key: a collapse asks for the learning rate
× 0.2 and lr-too-high for × 0.1; diverged asks for one warmup epoch and lr-too-high for two. Applied one
after another they would compound (× 0.02) or contradict each other, so the plan takes one value per key:

- the diagnoses come most important first (severity, then root causes, then onset: `evaluate.diagnose`),
  and the first diagnosis that asks for a key decides its value; the others are listed as also asking
  (the same change) or overruled (another one), with their reasons;
- a change that leaves the value as it is (weight decay 0 × 10, an early stopping already on) is not a step
  of the plan but is said, so the user knows it was considered;
- each step carries the value now and the value after, computed here and only here, and the `--set`
  option that makes it.

The same plan is shown in every report format and written by `--emit-config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ceph_doctor.config import flatten, load_config, patched, set_value
from ceph_doctor.engine.diagnosis import Fix
from ceph_doctor.engine.fixes import FIX_OPS, planned_change, shown_value
from ceph_doctor.errors import UserInputError


@dataclass
class Step:
    """One change of the plan: `key` goes from `current` to `new` because `asked_by` asked."""

    key: str
    fix: Fix  # the deciding fix (its op and value)
    current: Any  # the run's value; None where the run does not record it
    new: Any  # the value after the change; None where a factor meets an unknown current value
    asked_by: list[tuple[str, str]] = field(default_factory=list)  # (diagnosis id, reason), the decider first
    overruled: list[tuple[str, str]] = field(default_factory=list)  # (diagnosis id, what it asked instead)

    @property
    def change(self) -> str:
        """`0.02 → 0.004`, or the fix itself where a value is unknown (`× 0.2`, `= 5`)."""
        if self.new is None:
            return f"× {self.fix.value:g}" if self.fix.op == "multiply" else f"= {shown_value(self.fix.value)}"
        if self.current is None:  # a switch that is off (null), or a setting the run's logs do not give
            return f"{'off' if self.fix.op == 'enable' else '?'} → {shown_value(self.new)}"
        return f"{shown_value(self.current)} → {shown_value(self.new)}"

    @property
    def set_option(self) -> str | None:
        """The `ceph-doctor train` option that makes this change, e.g. `--set optimizer.lr=0.004`."""
        return None if self.new is None else f"--set {self.key}={shown_value(self.new, quoted=False)}"

    @property
    def reasons(self) -> str:
        return "; ".join(f"{source}: {reason}" if source else reason for source, reason in self.asked_by)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "op": self.fix.op, "value": self.fix.value, "current": self.current, "new": self.new,
            "set": self.set_option,
            "asked_by": [{"id": source, "reason": reason} for source, reason in self.asked_by],
            "overruled": [{"id": source, "asked": asked} for source, asked in self.overruled],
        }


@dataclass
class TreatmentPlan:
    steps: list[Step] = field(default_factory=list)
    # Changes asked for that would leave the value as it is: (key, the value, the diagnoses that asked).
    unchanged: list[tuple[str, Any, list[str]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def changes(self) -> dict[str, Any]:
        """key → new value, for every step whose new value is known."""
        return {step.key: step.new for step in self.steps if step.new is not None}

    def lines(self) -> list[str]:
        """One line per step, e.g. `optimizer.lr: 0.02 → 0.004 (prediction-collapse: …; instead of × 0.1 …)`."""
        lines = []
        for step in self.steps:
            overruled = "".join(f"; instead of {asked} ({source})" if source else f"; instead of {asked}"
                                for source, asked in step.overruled)
            undone = ", not applied: no current value to scale" if step.new is None else ""
            asked = f"{_asked(step.fix)}: " if step.new is not None else ""
            lines.append(f"{step.key}: {step.change}{undone} ({asked}{step.reasons}{overruled})")
        return lines


def plan_of(report) -> TreatmentPlan:
    """A RunReport's plan, made once and kept on it: against the run's config (`plan_config`)."""
    if "plan" not in report.memo:
        report.memo["plan"] = treatment_plan(report.diagnoses, plan_config(report.run, report.source))
    return report.memo["plan"]


def treatment_plan(diagnoses: Iterable, config: dict | None) -> TreatmentPlan:
    """The plan for `diagnoses` (most important first, as the engine orders them) on a run's `config`
    (canonical keys; as complete as the run recorded it)."""
    return plan_fixes([(diagnosis.id, fix) for diagnosis in diagnoses for fix in diagnosis.fixes], config)


def plan_fixes(asked: Iterable[tuple[str, Fix]], config: dict | None) -> TreatmentPlan:
    """The plan for fixes asked by sources ("" where the source has no name), in order of importance."""
    config = config or {}
    steps: dict[str, Step] = {}
    for source, fix in asked:
        if fix.op not in FIX_OPS:
            raise ValueError(f"unknown fix op {fix.op!r}")
        step = steps.get(fix.key)
        if step is None:
            current, new = planned_change(fix, config)
            steps[fix.key] = Step(fix.key, fix, current, new, [(source, fix.reason)])
        elif (fix.op, repr(fix.value)) == (step.fix.op, repr(step.fix.value)):
            if (source, fix.reason) not in step.asked_by:
                step.asked_by.append((source, fix.reason))
        else:
            step.overruled.append((source, _asked(fix)))
    plan = TreatmentPlan()
    for step in steps.values():
        if step.new is not None and step.current is not None and _same(step.new, step.current):
            plan.unchanged.append((step.key, step.current, [source for source, _ in step.asked_by]))
        else:
            plan.steps.append(step)
    return plan


def apply_plan(config: dict, plan: TreatmentPlan) -> dict:
    """A validated copy of `config` with every step of `plan` made."""
    return patched(config, plan.changes())


def _asked(fix: Fix) -> str:
    return f"× {fix.value:g}" if fix.op == "multiply" else f"{fix.op} {shown_value(fix.value)}"


def _same(new: Any, current: Any) -> bool:
    return new == current and type(new) is type(current) or (
        isinstance(new, (int, float)) and isinstance(current, (int, float)) and not isinstance(new, bool)
        and not isinstance(current, bool) and float(new) == float(current))


def apply_fixes(config: dict, fixes: Iterable[Fix]) -> tuple[dict, list[str]]:
    """A validated copy of `config` with `fixes` (most important first) merged and applied, and one line per
    changed key (`TreatmentPlan.lines`)."""
    plan = plan_fixes([("", fix) for fix in fixes], config)
    return apply_plan(config, plan), plan.lines()


def repaired_config(run_config: dict, diagnoses: Iterable) -> tuple[dict, TreatmentPlan]:
    """A run's config, completed with today's defaults and validated, with the treatment plan of its
    diagnoses applied; and that plan."""
    config = completed_config(run_config)
    plan = treatment_plan(diagnoses, config)
    return apply_plan(config, plan), plan


def plan_config(run, source: str) -> dict:
    """The config a run's plan is made against: ceph-doctor's own runs' recorded config completed with
    today's defaults (what `--emit-config` patches); another tool's run's canonical settings as read, with
    no default filled in (its current value is unknown where its logs do not say it)."""
    recorded = (getattr(run, "config", None) or {}) if run is not None else {}
    if source != "ceph-doctor":
        return recorded
    try:
        return completed_config(recorded)
    except UserInputError:  # an older run's key this version no longer knows: plan against what was recorded
        return recorded


def completed_config(run_config: dict) -> dict:
    """A run's recorded config on top of today's defaults: every key a fix may read has a value."""
    config = load_config()
    for key, value in flatten(run_config).items():
        set_value(config, key, value, origin="the run's config")
    return config

