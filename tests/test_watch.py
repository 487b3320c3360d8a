"""`ceph-doctor watch` follows a run while another process writes it, and tells what the doctor in the loop
tells: the same findings at the same epochs.

- A training in another process (the collapsing scenario at test size, stopped by its own doctor), watched
  through its run directory; its TensorBoard folder read afterwards tells a part of it, at the same epochs.
- Other tools' logs being appended (the overfitting scenario's scalars written again as TensorBoard events, a
  CSV and MMEngine's scalars.json, by the writers of test_importers_agree), copied into place a few hundred
  bytes at a time so that the watcher meets torn lines and cut records: it must tell what judging the
  finished log validation by validation tells.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import ceph_doctor
from test_importers_agree import WRITERS

from ceph_doctor.live_doctor import read_record
from ceph_doctor.engine import load_rules
from ceph_doctor.importers import discover
from ceph_doctor.importers.names import NameMap
from ceph_doctor.scenarios import SCENARIO_FOLDER, load_scenario
from ceph_doctor.store import load_run
from ceph_doctor.watch import Watch, findings, replayed


def told(output: str) -> list[tuple[int, str]]:
    """(epoch, id) of each finding `watch` printed ("doctor, epoch 2: error prediction-collapse (since …): …")."""
    return [(int(match[1]), match[2]) for match in re.finditer(r"^doctor, epoch (\d+): \w+ ([\w-]+)", output, re.M)]


def test_watch_tells_what_the_doctor_in_the_loop_told_while_the_training_runs(tmp_path):
    scenario = load_scenario(SCENARIO_FOLDER / "collapse_high_lr.yaml")
    # Fewer images than its test size: the collapse comes in the first steps all the same.
    overrides = [f"{key}={value}" for key, value in scenario.test_size.items()] + [
        "train.threads=1", "data.synthetic.train_images=32"]
    run_dir = tmp_path / "collapse"
    command = [sys.executable, "-m", "ceph_doctor"]
    training = subprocess.Popen([*command, "train", "--config", str(scenario.path), "--out", str(tmp_path),
                                 "--name", "collapse", *(part for item in overrides for part in ("--set", item))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # --idle here is only how long to wait for the run to appear: a ceph-doctor run says itself when it ends.
    watcher = subprocess.Popen([*command, "watch", str(run_dir), "--interval", "0.2", "--idle", "240"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert training.wait(timeout=240) == 0, training.stderr.read()
    output, errors = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, errors
    record = read_record(run_dir / "doctor.jsonl")
    in_loop = [(event["epoch"], event["id"]) for event in record if event["event"] == "found"]
    assert ("prediction-collapse" in {rule_id for _, rule_id in in_loop}
            and any(event["event"] == "stopped" for event in record))
    assert told(output) == in_loop
    # The run's TensorBoard folder, read afterwards: no predictions there, so what it tells is what the loop
    # told of the curves, at the same epochs. (Read while it grows: the appended logs below.)
    from_tensorboard = watcher_of(run_dir / "tensorboard")
    assert from_tensorboard and from_tensorboard <= set(in_loop)


def watcher_of(path: Path) -> set[tuple[int, str]]:
    """What `Watch` tells, found by found, of a log that has stopped growing."""
    watch = Watch(path, load_rules(), NameMap(), idle=0.0)
    found = set()
    while not watch.finished:
        found |= {(finding.epoch, finding.id) for _, finding, cleared, _ in findings(watch.poll()) if not cleared
                  and not finding.final}
    return found


def copied_slowly(source: Path, target: Path, chunk: int = 700) -> threading.Thread:
    """A thread that writes every file under `source` into `target`, `chunk` bytes at a time, as a training
    process appends to its logs."""
    files = sorted(path for path in source.rglob("*") if path.is_file())

    def write() -> None:
        for path in files:
            data = path.read_bytes()
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(destination, "ab") as file:
                for start in range(0, len(data), chunk):
                    file.write(data[start:start + chunk])
                    file.flush()
                    time.sleep(0.002)

    return threading.Thread(target=write, daemon=True)


@pytest.mark.parametrize("log_format", ["tensorboard", "csv", "mmengine"])
def test_watch_follows_another_tools_log_as_it_is_appended(scenario_runs, tmp_path, log_format):
    rules = load_rules()
    WRITERS[log_format](load_run(scenario_runs["overfitting"]), tmp_path / "whole")
    (finished,), _ = discover(tmp_path / "whole", NameMap())
    expected = replayed(finished, rules)
    assert ("found", "overfitting") in {(event, rule_id) for event, _, rule_id in expected}

    live = tmp_path / "live"
    live.mkdir()
    writer = copied_slowly(tmp_path / "whole", live)
    watch = Watch(live, rules, NameMap(), idle=0.5)
    writer.start()
    told, polls = [], 0
    while not watch.finished:
        news = watch.poll()
        told += [("cleared" if cleared else "found", epoch if cleared else finding.epoch, finding.id)
                 for _, finding, cleared, epoch in findings(news)]
        polls += 1
        time.sleep(0.01)
    writer.join()
    assert polls > 3, "the log was read while it grew"
    assert told == expected


def test_watch_waits_for_a_run_and_says_when_none_came(tmp_path):
    result = ceph_doctor("watch", str(tmp_path / "not-yet"), "--interval", "0.1", "--idle", "0.5")
    assert result.returncode == 2
    assert "waiting for a run at" in result.stdout
    assert result.stderr.count("\n") == 1 and "no run appeared within 0.5 s" in result.stderr
