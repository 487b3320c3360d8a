import pytest

from ceph_doctor.config import load_config

# Tiny but real: 64x64 inputs, a handful of synthetic images, a narrow U-Net.
TINY = [
    "data.input_size=[64, 64]",
    "data.synthetic.render_size=[96, 112]",
    "data.synthetic.train_images=16",
    "data.synthetic.val_images=6",
    "data.batch_size=4",
    "data.train_subset=4",
    "model.channels=8",
    "train.max_epochs=2",
    "train.log_every=1",
    "train.warmup_epochs=0",
]


@pytest.fixture
def tiny_config():
    def make(*overrides: str) -> dict:
        return load_config(None, [*TINY, *overrides])

    return make


@pytest.fixture(scope="session")
def scenario_runs(tmp_path_factory):
    """Every failure scenario of examples/scenarios trained once at test size: name → run directory."""
    from ceph_doctor.scenarios import all_scenarios, run_scenario

    out = tmp_path_factory.mktemp("scenarios")
    return {scenario.name: run_scenario(scenario, out, size="test") for scenario in all_scenarios()}
