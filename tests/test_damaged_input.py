"""Damaged files, as an unlucky or hostile user has them: every reader keeps what it can read and says what it
could not, in every report format; one bad run in a folder of good ones is passed over with a reason, not
fatal; nothing from a file reaches the terminal as a control sequence."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from cli_helpers import ceph_doctor
from fault_probes import damaged_event_file

from ceph_doctor import load_run
from ceph_doctor.config import load_config
from ceph_doctor.store import layout
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

from conftest import TINY


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("damage") / "good"
    Trainer(load_config(None, [*TINY, "train.max_epochs=3"]), run_dir, hooks=[Recorder(run_dir)]).fit()
    return run_dir


def copy_of(run_dir, tmp_path, name="run"):
    target = tmp_path / name
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns(".writer*"))
    return target


SCALAR_DAMAGE = {
    "extra fields": lambda data: data + b"7,1,train/loss,0.5,1.0,surplus\n",
    "not a number": lambda data: data + b"7,1,train/loss,abc,1.0\n",
    "binary": lambda data: data[: len(data) // 2] + bytes(range(256)) + b"\n" + data[len(data) // 2:],
    "cut mid-row": lambda data: data[: data.rindex(b",")],  # a writer killed mid-line
}


@pytest.mark.parametrize("damage", list(SCALAR_DAMAGE))
def test_a_damaged_scalars_line_is_skipped_and_said(good_run, tmp_path, damage):
    run_dir = copy_of(good_run, tmp_path)
    whole = load_run(run_dir)
    path = run_dir / layout.SCALARS
    path.write_bytes(SCALAR_DAMAGE[damage](path.read_bytes()))
    damaged = load_run(run_dir)
    assert len(damaged.scalars) >= len(whole.scalars) - 1  # everything whole is kept
    assert damaged.unread and str(path) in damaged.unread[0] and "skipped" in damaged.unread[0]
    result = ceph_doctor("analyze", str(run_dir), "--format", "json", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["runs"][0]["unread"] == damaged.unread


def test_an_empty_scalars_file_and_a_bad_predictions_file_are_said_in_every_format(good_run, tmp_path):
    run_dir = copy_of(good_run, tmp_path)
    (run_dir / layout.SCALARS).write_bytes(b"")
    broken = sorted((run_dir / layout.PREDICTIONS).glob("*.parquet"))[0]
    broken.write_bytes(b"PAR1 not really")
    pd.DataFrame({"epoch": [9], "x": [1.0]}).to_parquet(run_dir / layout.PREDICTIONS / "epoch-00009.parquet")
    run = load_run(run_dir)
    assert len(run.predictions) and 9 not in set(run.predictions["epoch"])  # the readable validations are kept
    said = " ".join(run.unread)
    assert "empty" in said and broken.name in said and "epoch-00009.parquet" in said
    for fmt in ("md", "html"):
        out = tmp_path / f"report.{fmt}"
        assert ceph_doctor("analyze", str(run_dir), "--format", fmt, "--out", str(out), "--fail-on", "never").returncode == 0
        assert broken.name in out.read_text()
    text = ceph_doctor("analyze", str(run_dir), "--fail-on", "never").stdout
    assert "could not read" in text and broken.name in "".join(text.split())  # a long path wraps at 80 columns


def test_one_damaged_run_in_a_folder_is_passed_over_with_a_reason(good_run, tmp_path):
    copy_of(good_run, tmp_path / "runs", "a")
    bad = copy_of(good_run, tmp_path / "runs", "b")
    (bad / layout.MANIFEST).write_text(json.dumps({"schema_version": 1, "config": "not a mapping"}))
    result = ceph_doctor("analyze", str(tmp_path / "runs"), "--format", "json", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    assert [run["path"] for run in json.loads(result.stdout)["runs"]] == [str(tmp_path / "runs" / "a")]
    assert f"skipped {bad}" in result.stderr and "'config' should be a JSON object" in result.stderr
    alone = ceph_doctor("analyze", str(bad))  # asked for by name: one line, exit 2
    assert alone.returncode == 2 and len(alone.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["cut", "flipped byte"])
def test_a_tensorboard_file_read_in_part_says_where_it_stopped(tmp_path, damage):
    events = damaged_event_file(tmp_path / "tb", damage)
    result = ceph_doctor("analyze", str(tmp_path / "tb"), "--format", "json", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    [said] = json.loads(result.stdout)["runs"][0]["unread"]
    assert events.name in said and "stopped" in said and "byte" in said  # a flip in a length reads as a cut


def test_control_sequences_in_logged_names_never_reach_the_terminal(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    evil = "val_\x1b[2Jmre_mm\x1b]0;owned\x07"
    rows = [f"{epoch},{1 / (epoch + 1):.3f},{5 - 0.1 * epoch:.2f}" for epoch in range(6)]
    (log / "metrics.csv").write_text("epoch,train_loss," + evil + "\n" + "\n".join(rows) + "\n")
    for arguments in (["analyze", str(log)], ["analyze", str(log), "--show-names"]):
        result = ceph_doctor(*arguments, "--fail-on", "never")
        assert "\x1b[2J" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
    assert "\\x1b[2J" in ceph_doctor("analyze", str(log), "--show-names").stdout  # shown, inert
