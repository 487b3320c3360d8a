"""The overfit check's stages: measured here (`measure.py`), judged by the stage rules in `rules/sanity/`.

The stages follow the inference path in order, so the first one that fails says where the pipeline
breaks. Nothing here trains or calls the pipeline; `overfit.py` records the evidence. Each stage
function judges its stage on one run's evidence, as the whole check would:

    result = loss_falls(evidence)   # StageResult: passed, message, evidence, likely_cause, fix, fixes
"""

from __future__ import annotations

from ceph_doctor.engine.fixes import describe_fix
from ceph_doctor.engine.stage_rules import StageVerdict, judge_stages
from ceph_doctor.sanity.evidence import Evidence, StageResult
from ceph_doctor.sanity.measure import measure


def run_stages(ev: Evidence) -> list[StageResult]:
    """Every stage, in order; those after the first failure are flagged as possibly its consequence."""
    results, failed = [], False
    for verdict in judge_stages(measure(ev)):
        result = _result(verdict)
        result.after_failure = failed and result.passed is not None
        failed = failed or result.passed is False
        results.append(result)
    return results


def stage(name: str, ev: Evidence) -> StageResult:
    """One stage's verdict; the stages before it are judged too, as a later cause may read their verdict."""
    results = {verdict.stage: verdict for verdict in judge_stages(measure(ev))}
    return _result(results[name])


def loss_falls(ev: Evidence) -> StageResult:
    return stage("loss_falls", ev)


def heatmaps_peak_at_targets(ev: Evidence) -> StageResult:
    return stage("heatmaps_peak_at_targets", ev)


def decoded_match_targets(ev: Evidence) -> StageResult:
    return stage("decoded_match_targets", ev)


def original_pixels_match_truth(ev: Evidence) -> StageResult:
    return stage("original_pixels_match_truth", ev)


def metric_agrees(ev: Evidence) -> StageResult:
    return stage("metric_agrees", ev)


def autoregressive_matches_teacher_forced(ev: Evidence) -> StageResult:
    return stage("autoregressive_matches_teacher_forced", ev)


def _result(verdict: StageVerdict) -> StageResult:
    patches = "; ".join(describe_fix(fix) for fix in verdict.fixes) or None
    return StageResult(
        name=verdict.title, passed=verdict.passed, evidence=verdict.evidence, message=verdict.message,
        likely_cause=verdict.likely_cause, fix=verdict.advice or patches, diagnosis=verdict.diagnosis,
        fixes=verdict.fixes, advice=verdict.advice,
    )
