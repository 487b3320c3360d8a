"""`ablate` on the default pipeline (examples/ablations/healthy.yaml), every part of it right: no part is called
hurting. The control of test_ablate_finds_the_fault.py, in a file of its own so the two train in parallel."""

from __future__ import annotations

from ceph_doctor.ablate.effects import HURTS


def test_on_the_healthy_pipeline_no_part_hurts(ablation_outcome):
    _, outcome = ablation_outcome("healthy")
    assert outcome.verdicts and all(not v.effect.hurt and v.effect.overall["verdict"] != HURTS
                                    for v in outcome.verdicts)
    assert not [d for v in outcome.verdicts for d in v.diagnoses if d.id == "part-hurts"]
