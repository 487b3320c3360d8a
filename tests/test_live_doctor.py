"""The doctor inside the loop, judged on runs where the fault really happened: every scenario is trained with
the live doctor on (as every training is), the collapsing and the diverging one with `train.doctor.stop_on:
error`, so each run's doctor.jsonl is what a user watching it was told."""

import json

import pytest

from ceph_doctor.analyze import analyze_run
from ceph_doctor.doctor import LiveDoctor
from ceph_doctor.live_doctor import read_record
from ceph_doctor.engine import load_rules
from ceph_doctor.scenarios import all_scenarios
from ceph_doctor.report.run_facts import run_facts
from ceph_doctor.store import load_run
from ceph_doctor.watch import replayed

SCENARIOS = {scenario.name: scenario for scenario in all_scenarios()}
HEALTHY = tuple(sorted(name for name, scenario in SCENARIOS.items() if not scenario.expect))


def events(run_dir):
    return read_record(run_dir / "doctor.jsonl")


def validation_epochs(run_dir) -> list[int]:
    return sorted(int(epoch) for epoch in load_run(run_dir).predictions["epoch"].unique())


@pytest.mark.parametrize(("name", "rule_id"), [("collapse_high_lr", "prediction-collapse"), ("diverged", "diverged")])
def test_the_doctor_stops_a_broken_run_within_two_validations_of_its_onset(scenario_runs, name, rule_id):
    run_dir = scenario_runs[name]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stopped = [event for event in events(run_dir) if event["event"] == "stopped"]
    assert [event["id"] for event in stopped] == [rule_id]
    assert manifest["stop_reason"].startswith(f"stopped by the doctor at epoch {stopped[0]['epoch']}: {rule_id}")
    assert manifest["status"] in ("early_stopped", "diverged")
    epochs = validation_epochs(run_dir)
    assert epochs[-1] == stopped[0]["epoch"], "the run ended at the validation that stopped it"
    onset = stopped[0]["onset"] if stopped[0]["onset"] is not None else epochs[0]
    after_onset = [epoch for epoch in epochs if onset < epoch <= stopped[0]["epoch"]]
    assert len(after_onset) <= 2, (onset, stopped[0]["epoch"], epochs)
    assert SCENARIOS[name].config("test")["train"]["max_epochs"] > epochs[-1], "stopped before its last epoch"
    facts = dict(run_facts(analyze_run(load_run(run_dir), load_rules())))  # every report says why it stopped
    assert facts["status"] == f"{manifest['status']} ({manifest['stop_reason']})"


@pytest.mark.parametrize("name", HEALTHY)
def test_a_healthy_run_is_told_nothing_while_it_trains(scenario_runs, name):
    run_dir = scenario_runs[name]
    told = [(event["epoch"], event["id"]) for event in events(run_dir)
            if event["event"] == "found" and event["severity"] in ("error", "warning")]
    assert told == []
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("name", ["coordinate_bug", "exposure_bias"])
def test_what_the_doctor_told_in_the_loop_is_what_judging_the_stored_run_tells(scenario_runs, name):
    """`watch` and the in-loop doctor read the same store: judging the run as it stood at each validation
    tells the same findings at the same epochs (and the last word is the finished run's analysis)."""
    run_dir = scenario_runs[name]
    replayed_events = replayed(load_run(run_dir), load_rules())
    recorded = [(event["event"], event["epoch"], event["id"]) for event in events(run_dir)]
    assert recorded == replayed_events
    assert any(rule_id in SCENARIOS[name].expect for _, _, rule_id in recorded)


def test_a_doctor_judging_in_its_thread_judges_each_validation_as_the_run_stood_then(scenario_runs, tmp_path):
    """The doctor that only tells judges while the next epoch trains, so the store may already hold later
    validations when it reads: it tells what the run said at the end of each, as judging in the loop would."""
    import shutil

    from ceph_doctor.live_doctor import RunDoctor

    run_dir = tmp_path / "run"
    shutil.copytree(scenario_runs["coordinate_bug"], run_dir)  # finished: every validation is already there
    (run_dir / "doctor.jsonl").unlink()
    doctor = RunDoctor(run_dir, "never")
    for epoch in validation_epochs(run_dir):
        assert doctor.after_validation(epoch) is None
    doctor.at_end("completed")
    recorded = [(event["event"], event["epoch"], event["id"]) for event in events(run_dir)]
    assert recorded == replayed(load_run(run_dir), load_rules())
    assert ("found", 3, "coordinate-mismatch") in recorded


def test_a_finding_needs_two_validations_and_a_run_that_stopped_improving(scenario_runs):
    """On the collapsing run the collapse holds from the first validation, which is always a new best: it is
    told at the second, which is worse."""
    run = load_run(scenario_runs["collapse_high_lr"])
    doctor = LiveDoctor(load_rules(), stop_on="error")
    first = doctor.judge(run.until(1))
    assert "prediction-collapse" in {d.id for d in first.report.diagnoses}
    assert first.held_back and first.found == [] and first.stop is None
    second = doctor.judge(run.until(2))
    assert second.stop is not None and second.stop.id == "prediction-collapse" and second.stop.onset == 1
    assert doctor.judge(run.until(2)).found == [], "the same validation judged twice tells nothing new"


@pytest.mark.parametrize("stop_on", ["error", "never"])  # judged before the training goes on, or in its thread
def test_a_doctor_that_fails_never_ends_the_training(scenario_runs, tmp_path, monkeypatch, stop_on):
    import shutil

    from ceph_doctor.live_doctor import RunDoctor

    run_dir = tmp_path / "run"
    shutil.copytree(scenario_runs["healthy"], run_dir)

    def broken(self, run):
        raise ValueError("a signal met something new")

    monkeypatch.setattr(LiveDoctor, "judge", broken)
    said = []
    doctor = RunDoctor(run_dir, stop_on, said.append)
    assert doctor.after_validation(1) is None
    assert doctor.after_validation(2) is None
    doctor.at_end("completed")
    assert len(said) == 1 and "could not judge this run (ValueError: a signal met something new)" in said[0]
    assert not doctor.active, "said once; the doctor stands down"


def test_resuming_forgets_what_the_doctor_told_after_the_checkpoint(tmp_path):
    from ceph_doctor.store import RunWriter

    writer = RunWriter(tmp_path)
    writer.start({"config": {}, "landmarks": ["A"]})
    writer.add_scalars(step=10, epoch=1, values={"train/loss": 1.0})
    writer.close("interrupted")
    lines = [{"event": "found", "epoch": epoch, "id": f"rule-{epoch}", "severity": "warning"} for epoch in (1, 2, 3)]
    (tmp_path / "doctor.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"event": "fo')
    resumed = RunWriter(tmp_path)
    resumed.start({"config": {}, "landmarks": ["A"]}, resume_after=(20, 2))
    resumed.close("completed")
    assert [event["id"] for event in read_record(tmp_path / "doctor.jsonl")] == ["rule-1", "rule-2"]
    doctor = LiveDoctor(rules=[])
    doctor.resume_from(read_record(tmp_path / "doctor.jsonl"))
    assert set(doctor.told) == {"rule-1", "rule-2"}
