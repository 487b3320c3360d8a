"""`ablate` on a pipeline with a part that really hurts (examples/ablations/rotation_from_coco.yaml): the part is
named with its landmarks and its uncertainty, and the report says so in every format.

A file of its own, apart from the healthy control, so parallel test workers train the two ablations at once.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ceph_doctor.ablate.report import json_text, write_html, write_markdown


@pytest.fixture(scope="module")
def rotation(ablation_outcome):
    return ablation_outcome("rotation_from_coco")


def test_the_part_that_hurts_is_named_with_its_landmarks_and_uncertainty(rotation):
    scenario, outcome = rotation
    fired = {v.effect.part: [d.id for d in v.diagnoses] for v in outcome.verdicts}
    assert "part-hurts" in fired[scenario.hurts]
    assert all("part-hurts" not in ids for part, ids in fired.items() if part != scenario.hurts)
    hurting = next(v for v in outcome.verdicts if v.effect.part == scenario.hurts)
    diagnosis = next(d for d in hurting.diagnoses if d.id == "part-hurts")
    assert diagnosis.landmarks == hurting.effect.hurt and diagnosis.landmarks
    assert hurting.effect.overall["effect"] > hurting.effect.overall["band"] > 0
    assert f"±{hurting.effect.overall['band']:.2f}" in diagnosis.message
    assert diagnosis.fixes[0].key == "augment.rotate_deg" and diagnosis.fixes[0].value == 0


def test_the_report_in_every_format(rotation, tmp_path):
    _, outcome = rotation
    document = json.loads(json_text(outcome.result, outcome.verdicts))
    assert document["schema"] == 1
    assert {part["name"] for part in document["parts"]} == {"augment.rotate", "augment.brightness"}
    markdown = write_markdown(outcome.result, outcome.verdicts, tmp_path / "ablation.md").read_text()
    assert "part-hurts" in markdown and (tmp_path / "ablation-effect_map.png").is_file()
    page = write_html(outcome.result, outcome.verdicts, tmp_path / "ablation.html").read_text()
    assert "data:image/png;base64," in page and "augment.rotate" in page
    collected = subprocess.run([sys.executable, "-m", "ceph_doctor", "ablate", "--collect", str(outcome.plan.folder),
                                "--format", "json"], capture_output=True, text=True)
    assert collected.returncode == 0 and _table_of(json.loads(collected.stdout)) == _table_of(document)


def _table_of(document: dict) -> list:
    return [(part["name"], part["effect"], part["hurt"]) for part in document["parts"]]
