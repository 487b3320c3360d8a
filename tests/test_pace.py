"""`behind-schedule` on runs that really trail: the scenario runs raced against the healthy control (a frozen
backbone learns slower), and the healthy control against milestones it reaches or not. No training here: the
scenario runs are the ones test_scenarios trains."""

import copy

import pytest

from ceph_doctor.analyze import analyze_run
from ceph_doctor.config import load_config
from ceph_doctor.engine import load_rules
from ceph_doctor.errors import ConfigError
from ceph_doctor.store import load_run


def ids(report) -> set[str]:
    return {diagnosis.id for diagnosis in report.diagnoses}


def with_doctor_setting(run, **settings):
    run.manifest = copy.deepcopy(run.manifest)
    run.manifest["config"]["train"].setdefault("doctor", {}).update(settings)
    return run


def test_a_run_trailing_its_reference_is_behind_schedule_with_a_projection(scenario_runs):
    rules = load_rules()
    healthy = load_run(scenario_runs["healthy"])
    trailing = analyze_run(load_run(scenario_runs["frozen_backbone"]), rules, reference=healthy)
    assert "behind-schedule" in ids(trailing)
    signals = trailing.signals.values
    assert signals["pace.value"].value > signals["pace.target"].value + 2 * signals["pace.noise"].value
    low, middle, high = (signals[f"pace.projected{end}"].value for end in ("_low", "", "_high"))
    assert low <= middle <= high and signals["pace.reference_final"].value == pytest.approx(
        analyze_run(healthy, rules).signals.values["metric.best"].value)
    diagnosis = next(d for d in trailing.diagnoses if d.id == "behind-schedule")
    assert "projects" in diagnosis.message and "90% band" in diagnosis.message
    assert "behind-schedule" not in ids(analyze_run(load_run(scenario_runs["healthy"]), rules, reference=healthy))


def test_the_reference_the_config_names_is_read_and_one_that_is_not_there_is_said(scenario_runs, tmp_path):
    rules = load_rules()
    named = with_doctor_setting(load_run(scenario_runs["frozen_backbone"]), reference=str(scenario_runs["healthy"]))
    assert "behind-schedule" in ids(analyze_run(named, rules))
    missing = with_doctor_setting(load_run(scenario_runs["frozen_backbone"]), reference=str(tmp_path / "gone"))
    report = analyze_run(missing, rules)
    assert "behind-schedule" not in ids(report)
    assert "the reference run train.doctor.reference names" in report.signals.missing["pace"]


@pytest.mark.parametrize(("milestones", "behind", "ahead"), [
    ({3: {"val/mre_mm": 2.0}}, True, False),    # reached at epoch 3 with 7 mm: far behind
    ({3: {"val/mre_mm": 20.0}}, False, False),  # reached with room to spare
    ({40: {"val/mre_mm": 0.5}}, True, True),    # ahead, out of the projection's reach
    ({40: {"val/mre_mm": 6.0}}, False, True),   # ahead, already met
])
def test_milestones_reached_and_ahead(scenario_runs, milestones, behind, ahead):
    run = with_doctor_setting(load_run(scenario_runs["healthy"]), milestones=milestones)
    report = analyze_run(run, load_rules())
    assert ("behind-schedule" in ids(report)) is behind
    assert report.signals.values["pace.ahead"].value is ahead


def test_a_run_without_milestones_or_reference_is_not_judged_on_pace(scenario_runs):
    report = analyze_run(load_run(scenario_runs["healthy"]), load_rules())
    assert "pace" in report.signals.inapplicable and "pace" not in report.signals.missing


def test_milestones_are_checked_when_the_config_is_read():
    config = load_config(None, ['train.doctor.milestones={"50": {val/mre_mm: 5}, 150: {val/mre_mm: 2.0}}'])
    assert config["train"]["doctor"]["milestones"] == {50: {"val/mre_mm": 5.0}, 150: {"val/mre_mm": 2.0}}
    with pytest.raises(ConfigError, match="is not an epoch"):
        load_config(None, ["train.doctor.milestones={soon: {val/mre_mm: 5}}"])
