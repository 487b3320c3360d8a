import os

import pytest

from ceph_doctor.config import load_config
from shared_work import do_once, shared_folder

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
    # The live doctor is judged on the scenario runs (test_live_doctor, test_watch); the tests of everything else
    # train without it, which saves a judging per validation of each of their trainings.
    "train.doctor.enabled=false",
]


@pytest.fixture
def tiny_config():
    def make(*overrides: str) -> dict:
        return load_config(None, [*TINY, *overrides])

    return make


WORKER_THREADS = 1
_process_threads: list[int] = []  # the thread count every test starts with, set once per process


def pytest_configure(config):
    import torch

    # Parallel workers (pytest-xdist, on by default in pyproject.toml) train with one CPU thread each: two
    # workers with torch's default of a thread per core would fight over the cores, and one thread gives
    # the same numbers on every machine, whatever its core count.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(WORKER_THREADS)
    _process_threads.append(torch.get_num_threads())


@pytest.fixture(autouse=True)
def _thread_count_restored():
    """A training that pins train.threads changes the process's thread count; the next test gets it back."""
    yield
    import torch

    if torch.get_num_threads() != _process_threads[0]:
        torch.set_num_threads(_process_threads[0])


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory):
    """`scenario_run(*names)`: the failure scenarios of examples/scenarios with those names (all of them when
    none is named) trained at test size, once in the session and across the parallel workers too (they share
    the trainings): name → run directory."""
    from ceph_doctor.scenarios import all_scenarios, run_scenario

    scenarios = {scenario.name: scenario for scenario in all_scenarios()}
    out = shared_folder(tmp_path_factory, "scenarios")

    def trained(*names: str) -> dict:
        names = names or tuple(scenarios)
        do_once(out, names, lambda name: run_scenario(scenarios[name], out, size="test"))
        return {name: out / name for name in names}

    return trained


@pytest.fixture(scope="session")
def scenario_runs(scenario_run):
    """Every failure scenario trained at test size (see `scenario_run`): name → run directory."""
    return scenario_run()


@pytest.fixture(scope="session")
def ablation_outcome(tmp_path_factory):
    """`ablation_outcome(name)`: the ablation scenario examples/ablations/NAME.yaml, trained once at test size
    (once across the parallel workers too) and judged: (scenario, Outcome)."""
    from ceph_doctor.ablate import collect, run_ablation
    from ceph_doctor.scenarios import ABLATION_FOLDER, load_scenario

    out = shared_folder(tmp_path_factory, "ablations")

    def outcome(name: str):
        scenario = load_scenario(ABLATION_FOLDER / f"{name}.yaml")
        # One thread pinned: a CPU training's numbers depend on the count (the default is cores / jobs), and the
        # two ablations train at once on two workers; at two threads each they would fight over the cores.
        do_once(out, [name], lambda _: run_ablation(scenario.config("test"), out / name, scenario.parts,
                                                    seeds=2, threads=WORKER_THREADS))
        return scenario, collect(out / name)

    return outcome


@pytest.fixture(scope="session")
def fault_materials(tmp_path_factory):
    """A small finished run for the fault catalog (tests/fault_probes.py), trained once across the workers."""
    from fault_probes import make_materials

    folder = shared_folder(tmp_path_factory, "fault-materials")
    do_once(folder, ["good-run"], lambda _: make_materials(folder))
    return make_materials(folder)
