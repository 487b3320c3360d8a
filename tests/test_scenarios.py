"""Every rule judged on runs where its fault really happened.

Each scenario in examples/scenarios is trained here at test size (the
`scenario.test_size` overrides of its file), analyzed, and must produce the ids
it names; each control (a scenario that expects nothing: the defaults, the
sequence decoder, each part's healthy twin) must get no error and no warning.
Each rule is then checked for a scenario where it fires and the controls,
where it stays quiet.
"""

import pytest

from ceph_doctor.analyze import analyze_run
from ceph_doctor.engine import load_rules
from ceph_doctor.scenarios import all_scenarios
from ceph_doctor.store import load_run

SCENARIOS = {scenario.name: scenario for scenario in all_scenarios()}


@pytest.fixture(scope="session")
def diagnosed(scenario_runs):
    """scenario name → {diagnosis id: severity}; "_runs" → the run directories."""
    rules = load_rules()
    results = {}
    for name, run_dir in scenario_runs.items():
        report = analyze_run(load_run(run_dir), rules)
        results[name] = {diagnosis.id: diagnosis.severity for diagnosis in report.diagnoses}
    results["_runs"] = scenario_runs
    return results


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_produces_its_ids(diagnosed, name):
    expected = set(SCENARIOS[name].expect)
    assert expected <= set(diagnosed[name]), f"{name}: expected {sorted(expected)}, got {diagnosed[name]}"


HEALTHY = tuple(sorted(name for name, scenario in SCENARIOS.items() if not scenario.expect))  # the controls


def test_there_are_controls_for_the_heatmap_model_and_the_sequence_decoder():
    assert {"healthy", "healthy_sequence"} <= set(HEALTHY)


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_control_gets_no_error_or_warning(diagnosed, name):
    assert not [i for i, severity in diagnosed[name].items() if severity in ("error", "warning")], diagnosed[name]


RULE_IDS = sorted(rule.id for rule in load_rules())
FIRING = {rule_id: [n for n, s in SCENARIOS.items() if rule_id in s.expect] for rule_id in RULE_IDS}


@pytest.mark.parametrize("rule_id", [r for r in RULE_IDS if FIRING[r]])
def test_rule_fires_on_its_fault_and_stays_quiet_on_the_healthy_run(diagnosed, rule_id):
    assert all(rule_id in diagnosed[name] for name in FIRING[rule_id])
    assert all(rule_id not in diagnosed[name] for name in HEALTHY)


def test_emitted_config_undoes_the_fault_and_trains(diagnosed, tmp_path):
    from cli_helpers import ceph_doctor

    from ceph_doctor.config import load_config

    fixed = tmp_path / "fixed.yaml"
    result = ceph_doctor("analyze", str(diagnosed["_runs"]["coordinate_bug"]), "--emit-config", str(fixed),
                         "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    config = load_config(fixed)
    assert config["faults"]["skip_stride_rescale"] is False
    assert "faults.skip_stride_rescale" in fixed.read_text()  # the header says what changed
