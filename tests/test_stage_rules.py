"""Stage rules: the overfit check's verdicts as files the engine loads, checks and judges in order."""

from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pytest

from ceph_doctor.engine import load_rules
from ceph_doctor.engine.rule_schema import RuleError
from ceph_doctor.engine.stage_files import load_stage_rules, parse_stage_rule
from ceph_doctor.engine.stage_rules import judge_stages
from ceph_doctor.sanity import Evidence
from ceph_doctor.sanity.measure import target_width
from ceph_doctor.sanity.stages import heatmaps_peak_at_targets

STAGE = """
stage: speed_check
order: 1
title: it is fast
passes: probe.seconds < 2
message: "{probe.seconds:.1f} s"
evidence: [probe.seconds]
causes:
  - when: probe.seconds > 100
    cause: "stuck for {probe.seconds:.0f} s"
    fixes: [{key: train.grad_clip, op: enable, value: 1.0, reason: a reason}]
    diagnosis: diverged
  - cause: slow
    advice: profile it
"""


def stage_rule(text: str = STAGE, **shared):
    return parse_stage_rule(textwrap.dedent(text), "speed.yaml", shared)


def test_the_first_cause_that_holds_is_the_verdict():
    rule = stage_rule()
    slow, stuck, fast = (judge_stages({"probe.seconds": s}, [rule])[0] for s in (5.0, 500.0, 1.0))
    assert (slow.passed, slow.likely_cause, slow.advice, slow.fixes) == (False, "slow", "profile it", [])
    assert stuck.likely_cause == "stuck for 500 s" and stuck.diagnosis == "diverged"
    assert [fix.key for fix in stuck.fixes] == ["train.grad_clip"]
    assert fast.passed and fast.likely_cause is None and fast.message == "1.0 s"
    assert fast.evidence == {"probe.seconds": 1.0}


def test_a_stage_whose_signals_were_not_measured_is_skipped():
    verdict = judge_stages({}, [stage_rule(STAGE + "skipped: no clock\n")])[0]
    assert verdict.passed is None and verdict.message == "skipped: no clock"


def test_a_later_stage_reads_the_verdicts_before_it():
    first = stage_rule()
    second = stage_rule(STAGE.replace("speed_check", "after_speed").replace("order: 1", "order: 2")
                        .replace("passes: probe.seconds < 2", "passes: not sanity.passed.speed_check"))
    verdicts = judge_stages({"probe.seconds": 1.0}, [second, first])  # judged by order, not as given
    assert [v.stage for v in verdicts] == ["speed_check", "after_speed"]
    assert verdicts[0].passed and verdicts[1].passed is False


@pytest.mark.parametrize("change, field", [
    (("  - cause: slow\n    advice: profile it\n", "  - when: probe.seconds > 1\n    cause: slow\n    advice: x\n"),
     "causes"),
    (("    advice: profile it\n", ""), "causes[1]"),
    (("order: 1", "order: first"), "order"),
    (("stage: speed_check", "stage: Speed-Check"), "stage"),
    (("passes: probe.seconds < 2", "passes: probe.seconds <"), "passes"),
    (("diagnosis: diverged", "diagnosis: Diverged!"), "causes[0].diagnosis"),
    (("key: train.grad_clip", "key: train.grad_clips"), "causes[0].fixes[0].key"),
    (("  - cause: slow\n    advice: profile it\n", "  - no-such-cause\n  - cause: slow\n    advice: x\n"),
     "causes[1]"),
])
def test_a_broken_stage_file_names_the_file_and_field(change, field):
    with pytest.raises(RuleError) as caught:
        stage_rule(STAGE.replace(*change))
    assert caught.value.path == "speed.yaml" and caught.value.field == field


def test_builtin_stages_follow_the_inference_path():
    assert [rule.stage for rule in load_stage_rules()] == [
        "loss_falls", "heatmaps_peak_at_targets", "decoded_match_targets", "original_pixels_match_truth",
        "metric_agrees", "autoregressive_matches_teacher_forced",
    ]


def test_narrow_targets_are_judged_by_the_analysis_rule_itself():
    """The sanity verdict and the sigma-too-small rule agree on every (sigma, peak): one threshold, one place."""
    sigma_rule = next(rule for rule in load_rules() if rule.id == "sigma-too-small")
    truth = np.array([[[3.0, 3.0], [12.0, 4.0], [5.0, 12.0], [13.0, 13.0]]])
    for sigma, peak in itertools.product((0.4, 0.9, 1.2, 1.4, 1.8, 3.0), (0.1, 0.25, 0.5, 0.9)):
        maps = gaussians(truth[0], sigma) * peak
        wrong_place = np.roll(maps, 5, axis=-1)[None]  # peaks that formed nowhere near the targets
        ev = Evidence(losses=np.geomspace(1, 1e-3, 20), eval_loss=1e-3, trainable_fraction=1.0,
                      changed_fraction=1.0, pred_input=truth, target_input=truth, pred_original=truth,
                      truth=truth, metric_value=100.0, probe_pred=truth, probe_truth=truth, probe_metric=100.0,
                      pred_heatmaps=wrong_place, target_heatmaps=gaussians(truth[0], sigma)[None])
        result = heatmaps_peak_at_targets(ev)
        measured = {"heatmap.sigma": target_width(ev), "heatmap.peak": result.evidence["heatmap.peak"]}
        assert result.passed is False
        assert (result.diagnosis == "sigma-too-small") == sigma_rule.holds(measured), (sigma, peak, measured)


def gaussians(points: np.ndarray, sigma: float, size: int = 16) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in points]).astype(np.float32)

