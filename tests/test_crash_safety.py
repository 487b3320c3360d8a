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


def _started(run_dir):
    return lambda: validations_on_disk(run_dir) >= 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_termination_signals_raise_an_interrupt_while_training_and_not_after(signum):
    from ceph_doctor.train.interrupts import Terminated, interrupted_by_termination

    before = signal.getsignal(signum)
    with pytest.raises(Terminated) as stopped, interrupted_by_termination():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler runs at the next bytecode; never reached
    assert stopped.value.signum == signum and isinstance(stopped.value, KeyboardInterrupt)
    assert signal.getsignal(signum) == before  # the handler before is put back


def test_termination_ends_the_run_as_ctrl_c_does(tmp_path, signum=signal.SIGTERM):
    """A scheduler's SIGTERM (SIGHUP takes the same path, above): the run says interrupted (not "running" for
    ever), keeps its completed validations, exits 128 + the signal's number, and --resume completes it."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(train_command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = _started(run_dir)
    deadline = time.monotonic() + 120
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr and f"--resume {run_dir}" in stderr
    stopped = load_run(run_dir)
    assert stopped.manifest["status"] == "interrupted"
    assert_consistent(stopped)
    resumed = subprocess.run(train_command(tmp_path, "--resume", str(run_dir)), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert load_run(run_dir).manifest["status"] == "completed"


def _one_line_refusal(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_resuming_a_run_another_process_trains_is_refused_naming_it(tmp_path):
    """`--resume` of a run still being trained used to rewrite its scalars under the first process."""
    run_dir = tmp_path / "run"
    first = subprocess.Popen(train_command(tmp_path, "--set", "train.max_epochs=1000"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _started(run_dir)() and time.monotonic() < deadline:
        time.sleep(0.01)
    line = _one_line_refusal(subprocess.run(train_command(tmp_path, "--resume", str(run_dir)), capture_output=True,
                                            text=True, timeout=120))
    assert f"process {first.pid}" in line and "is writing this run" in line
    assert first.poll() is None  # refused while the first was writing
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    run = load_run(run_dir)
    assert run.manifest["status"] == "interrupted"
    assert_consistent(run)
    steps = run.scalar("train/loss").index
    assert list(steps) == list(range(1, steps.max() + 1))  # every step once: nothing lost, nothing twice


def test_two_trainings_started_at_once_under_one_name_make_one_run(tmp_path):
    """Both pass the "already exists" check before either has written; the run's lock lets one of them in."""
    processes = [subprocess.Popen(train_command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    results = [(process.wait(timeout=300), process.stderr.read()) for process in processes]
    assert sorted(code for code, _ in results) == [0, 2], results
    refusal = next(stderr for code, stderr in results if code == 2)
    assert len([line for line in refusal.splitlines() if line.strip()]) == 1 and "Traceback" not in refusal
    run = load_run(tmp_path / "run")
    assert run.manifest["status"] == "completed"
    assert_consistent(run)
    assert len(run.predictions) == EPOCHS * ROWS_PER_VALIDATION


def test_a_resume_gives_an_empty_scalars_file_its_header_back(tmp_path):
    """A disk full at the start can leave scalars.csv empty; resuming such a run must make it readable again,
    never leave it without a header for good."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(train_command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, _started(run_dir))
    (run_dir / layout.SCALARS).write_bytes(b"")
    resumed = subprocess.run(train_command(tmp_path, "--resume", str(run_dir)), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    run = load_run(run_dir)
    assert run.manifest["status"] == "completed" and len(run.scalar("train/loss"))
    assert (run_dir / layout.SCALARS).read_text().splitlines()[0] == ",".join(layout.SCALAR_COLUMNS)
