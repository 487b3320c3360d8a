"""Stage rules judged: each stage of a staged check passes, is skipped, or fails with its likely cause.

The files and their format are described in `stage_files.py`. Stages are judged in `order`, and
`sanity.passed.<stage>` carries each verdict to the stages after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ceph_doctor.engine.diagnosis import Fix
from ceph_doctor.engine.evaluate import json_value
from ceph_doctor.engine.expr import Expression, MissingSignal, plain, required_names
from ceph_doctor.engine.stage_files import StageRule, load_stage_rules
from ceph_doctor.signals.base import Signal


@dataclass
class StageVerdict:
    """What the stage rules say about one stage."""

    stage: str
    title: str
    passed: bool | None  # None: skipped, a signal it needs was not measured
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    likely_cause: str | None = None
    advice: str | None = None
    fixes: list[Fix] = field(default_factory=list)
    diagnosis: str | None = None


def judge_stages(values: Mapping[str, Any], rules: Iterable[StageRule] | None = None) -> list[StageVerdict]:
    """Each stage rule judged, in order, on `values` (signal name → plain value)."""
    known = {name: plain(value) for name, value in values.items()}
    verdicts = []
    for rule in sorted(load_stage_rules() if rules is None else rules, key=lambda rule: rule.order):
        verdict = _judge(rule, known)
        known[_passed_name(rule)] = verdict.passed
        verdicts.append(verdict)
    return verdicts


def _judge(rule: StageRule, known: Mapping[str, Any]) -> StageVerdict:
    evidence = {_short(name): json_value(known[name]) for name in rule.evidence if name in known}
    if not required_names(rule.passes) <= known.keys():
        return StageVerdict(rule.stage, rule.title, None, f"skipped: {rule.skipped or 'not measured'}", evidence)
    passed = bool(rule.passes.holds(known))
    values = {**known, _passed_name(rule): passed}  # the stage's own message may say which way it went
    signals = {name: Signal(name, value) for name, value in values.items()}
    message = next((template for condition, template in rule.message_cases if _quietly(condition, values)),
                   rule.message).render(signals).strip()
    verdict = StageVerdict(rule.stage, rule.title, passed, message, evidence)
    if passed:
        return verdict
    cause = next((cause for cause in rule.causes if cause.holds(values)), None)
    if cause is not None:
        verdict.likely_cause = cause.cause.render(signals).strip()
        verdict.advice = cause.advice.render(signals).strip() if cause.advice else None
        verdict.fixes = list(cause.fixes or (cause.rule.fixes if cause.rule else ()))
        verdict.diagnosis = cause.diagnosis or (cause.rule.id if cause.rule else None)
    return verdict


def _quietly(condition: Expression, values: Mapping[str, Any]) -> bool:
    try:
        return bool(condition.holds(values))
    except MissingSignal:
        return False


def _short(name: str) -> str:
    """Evidence keys: the check's own signals by their last part, shared ones (heatmap.sigma) whole."""
    return name.rsplit(".", 1)[-1] if name.startswith("sanity.") else name


def _passed_name(rule: StageRule) -> str:
    return f"sanity.passed.{rule.stage}"
