"""What a user is told about runs where a fault really happened (the scenarios of examples/scenarios): a run that
was never good is called so, the fixes of all diagnoses make one plan whose changes never compound or
contradict, the comparison of a best checkpoint does not call it overfitted, and the numbers read by their kind.
"""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from ceph_doctor.analyze import analyze_run
from ceph_doctor.compare import engine_findings
from ceph_doctor.compare.checkpoint_file import read_checkpoint
from ceph_doctor.engine import load_rules, plan_of, repaired_config
from ceph_doctor.report import render_terminal
from ceph_doctor.report.document import document_runs
from ceph_doctor.store import load_run


@pytest.fixture(scope="module")
def reports(scenario_run):
    runs = scenario_run("collapse_high_lr", "diverged", "overfitting")
    rules = load_rules()
    return {name: analyze_run(load_run(folder), rules) for name, folder in runs.items()}


def by_id(report) -> dict:
    return {diagnosis.id: diagnosis for diagnosis in report.diagnoses}


def test_a_run_collapsed_from_its_first_validation_is_never_good_and_not_told_to_stop_early(reports):
    report = reports["collapse_high_lr"]
    collapse = by_id(report)["prediction-collapse"]
    best_epoch = report.signals.values["metric.best_epoch"].value
    assert collapse.epoch <= best_epoch  # collapsed at the best epoch already: no best checkpoint to keep
    assert "never good" in collapse.message and "no checkpoint of this run is usable" in collapse.message
    assert "train.early_stopping.patience" not in {fix.key for fix in collapse.fixes}


def test_two_rules_cutting_the_learning_rate_make_one_cut_not_their_product(reports):
    report = reports["collapse_high_lr"]
    asking = {d.id: fix.value for d in report.diagnoses for fix in d.fixes if fix.key == "optimizer.lr"}
    assert len(asking) >= 2, asking  # the scenario really has two rules asking for the lr
    lr_steps = [step for step in plan_of(report).steps if step.key == "optimizer.lr"]
    assert len(lr_steps) == 1
    step = lr_steps[0]
    decider = report.diagnoses[0]  # the most important diagnosis decides the key it asks for
    assert step.asked_by[0][0] == decider.id and step.new == pytest.approx(step.current * asking[decider.id])
    assert [source for source, _ in step.overruled] == [d for d in asking if d != decider.id]
    config, plan = repaired_config(report.run.config, report.diagnoses)
    assert config["optimizer"]["lr"] == pytest.approx(step.new)


def test_a_diverged_run_gets_one_warmup_and_no_step_that_changes_nothing(reports):
    report = reports["diverged"]
    plan = plan_of(report)
    keys = [step.key for step in plan.steps]
    assert len(keys) == len(set(keys)) and "train.warmup_epochs" in keys
    for step in plan.steps:
        assert step.new != step.current
        assert step.set_option == f"--set {step.key}={step.change.split(' → ')[-1]}"
    section = document_runs([report], figure_ref=None)[0]
    assert section.apply_all.startswith(f"ceph-doctor analyze {report.path} --emit-config")


def test_a_checkpoint_at_the_best_epoch_is_not_called_overfitted_and_the_last_one_is(reports):
    report = reports["overfitting"]
    assert "overfitting" in by_id(report)
    folder = report.run.path / "checkpoints"
    best, last = read_checkpoint(folder / "best.pth"), read_checkpoint(folder / "last.pth")
    findings = engine_findings({"A": best, "B": last})
    assert "overfitting" not in {finding.id for finding in findings["A"]}
    assert "overfitting" in {finding.id for finding in findings["B"]}


def test_numbers_read_by_their_kind_in_an_80_column_terminal(reports):
    console = Console(record=True, width=80, color_system=None)
    render_terminal(list(reports.values()), console)
    text = console.export_text()
    for report in reports.values():
        text = text.replace(str(report.path), "RUN")
    assert not re.search(r"\d{7,}", text)  # no long rows of digits (a loss 3.5e10× its first, not 34701632032×)
    assert not re.search(r"-0(\.0+)?%", text) and not re.search(r"\b1 (logged )?steps\b", text)
    assert "treatment plan" in text
    headings = [line for line in text.splitlines() if line.startswith("╭")]
    for report in reports.values():  # every panel's heading whole at 80 columns: its id and its onset
        for diagnosis in report.diagnoses:
            assert any(f" {diagnosis.id} " in line and (diagnosis.epoch is None or f"epoch {diagnosis.epoch}" in line)
                       for line in headings), diagnosis.id
