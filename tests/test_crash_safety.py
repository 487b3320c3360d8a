"""A training process killed with SIGKILL leaves a readable run, and --resume completes it exactly."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ceph_doctor import load_run
from ceph_doctor.store import layout

EPOCHS, VAL_IMAGES, SUBSET, LANDMARKS = 5, 6, 4, 19
ROWS_PER_VALIDATION = (VAL_IMAGES + SUBSET) * LANDMARKS

TINY = [
    "data.input_size=[64,64]", "data.synthetic.render_size=[96,112]", "data.synthetic.train_images=24",
    f"data.synthetic.val_images={VAL_IMAGES}", f"data.train_subset={SUBSET}", "data.batch_size=4",
    "model.channels=8", f"train.max_epochs={EPOCHS}", "train.log_every=1",
]


def train_command(out, *extra):
    sets = [arg for item in TINY for arg in ("--set", item)]
    return [sys.executable, "-m", "ceph_doctor", "train", *sets, "--out", str(out), "--name", "run", *extra]


def validations_on_disk(run_dir):
    folder = run_dir / layout.PREDICTIONS
    return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0


def kill_when(process, ready, timeout=120):
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "training ended before the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def assert_consistent(run):
    """Only whole validations, each once; scalars never repeat a (step, tag)."""
    predictions = run.predictions
    assert len(predictions) % ROWS_PER_VALIDATION == 0
    keys = ["epoch", "split", "image_id", "landmark_index"]
    assert not predictions.duplicated(keys).any()
    assert not run.scalars.duplicated(["step", "tag"]).any()


# Kill points: before the first validation; right after a validation's rows appear (inside
# the window before its checkpoint); in the middle of a later epoch.
KILL_POINTS = {
    "before-first-validation": lambda run_dir: (run_dir / layout.SCALARS).exists()
    and (run_dir / layout.SCALARS).stat().st_size > 200,
    "just-after-a-validation": lambda run_dir: validations_on_disk(run_dir) >= 2,
    "mid-epoch": lambda run_dir: validations_on_disk(run_dir) >= 3
    and (run_dir / layout.SCALARS).stat().st_size > 0,
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_sigkill_then_resume(tmp_path, kill_point):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(train_command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: KILL_POINTS[kill_point](run_dir))

    if (run_dir / layout.MANIFEST).exists():
        killed = load_run(run_dir)
        assert killed.manifest["status"] == "running"  # nobody got to say otherwise
        assert_consistent(killed)

    resumed = subprocess.run(train_command(tmp_path, "--resume", str(run_dir)), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    run = load_run(run_dir)
    assert run.manifest["status"] == "completed"
    assert_consistent(run)
    assert len(run.predictions) == EPOCHS * ROWS_PER_VALIDATION
    assert sorted(run.predictions["epoch"].unique()) == list(range(1, EPOCHS + 1))
    steps = run.scalar("train/loss").index
    assert list(steps) == list(range(1, steps.max() + 1))  # no gap and no repeat in the step log
