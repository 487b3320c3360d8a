import gc
import json

import numpy as np
import pandas as pd
import pytest

from ceph_doctor import load_run
from ceph_doctor.store import RunFormatError, RunWriter
from ceph_doctor.store import layout
from ceph_doctor.store.predictions import predictions_frame

NAMES = ["Sella", "Nasion", "Menton"]


def _validation(writer, epoch, images=4):
    rng = np.random.default_rng(epoch)
    true = rng.uniform(0, 100, (images, len(NAMES), 2)).astype(np.float32)
    pred = true + 3.0
    for split in ("val", "train"):
        frame = predictions_frame(epoch, epoch * 10, split, "heatmap", [f"{split}{i}" for i in range(images)],
                                  NAMES, pred, true, 0.1)
        writer.write_predictions_part(frame, epoch, split)
    writer.commit_predictions(epoch)


def test_round_trip_and_row_count(tmp_path):
    writer = RunWriter(tmp_path / "run")
    writer.start({"config": {"seed": 1}, "landmarks": NAMES})
    for epoch in (1, 2, 3):
        writer.add_scalars(epoch * 10, epoch, {"train/loss": 1.0 / epoch, "val/mre_mm": 2.0})
        _validation(writer, epoch)
    writer.close("completed")

    run = load_run(tmp_path / "run")
    assert run.manifest["status"] == "completed"
    assert run.landmarks == NAMES
    assert len(run.predictions) == 3 * (4 + 4) * len(NAMES)
    assert not run.predictions.duplicated(["epoch", "split", "image_id", "landmark_index"]).any()
    np.testing.assert_allclose(run.predictions["error_px"], np.hypot(3, 3), rtol=1e-5)
    np.testing.assert_allclose(run.predictions["error_mm"], 0.1 * np.hypot(3, 3), rtol=1e-5)
    assert run.scalar("train/loss").to_dict() == {10: 1.0, 20: 0.5, 30: pytest.approx(1 / 3)}
    # the predictions folder is an ordinary parquet dataset
    assert len(pd.read_parquet(tmp_path / "run" / layout.PREDICTIONS)) == len(run.predictions)


def test_torn_scalar_line_and_unflushed_run_are_readable(tmp_path):
    writer = RunWriter(tmp_path / "run")
    writer.start({"landmarks": NAMES})
    writer.add_scalars(1, 1, {"train/loss": 0.5})
    writer.flush()
    with open(tmp_path / "run" / layout.SCALARS, "a") as handle:
        handle.write("2,1,train/lo")  # a writer killed mid-line
    run = load_run(tmp_path / "run")
    assert run.manifest["status"] == "running"
    assert run.scalars["step"].tolist() == [1]
    assert run.predictions.empty


def test_resume_truncates_what_came_after_the_checkpoint(tmp_path):
    writer = RunWriter(tmp_path / "run")
    writer.start({"landmarks": NAMES})
    for epoch in (1, 2, 3):
        writer.add_scalars(epoch * 10, epoch, {"train/loss": 1.0})
        _validation(writer, epoch)
    writer.flush()  # killed here, with the checkpoint of epoch 2 the last one saved
    del writer  # as the process's death would, closing its files drops the run's lock
    gc.collect()

    again = RunWriter(tmp_path / "run")
    again.start({"landmarks": NAMES}, resume_after=(20, 2))
    run = load_run(tmp_path / "run")
    assert sorted(run.predictions["epoch"].unique()) == [1, 2]
    assert run.scalars["step"].max() == 20
    assert run.manifest["resumed"]


def test_non_finite_values_survive(tmp_path):
    writer = RunWriter(tmp_path / "run")
    writer.start({})
    writer.add_scalars(1, 1, {"train/loss": float("nan"), "grad/norm": float("inf")})
    writer.close("diverged")
    run = load_run(tmp_path / "run")
    assert np.isnan(run.scalar("train/loss").iloc[0])
    assert np.isinf(run.scalar("grad/norm").iloc[0])


def test_future_schema_version_is_refused_clearly(tmp_path):
    (tmp_path / layout.MANIFEST).write_text(json.dumps({"schema_version": layout.SCHEMA_VERSION + 1}))
    with pytest.raises(RunFormatError, match="newer than this ceph-doctor reads"):
        load_run(tmp_path)


def test_not_a_run(tmp_path):
    with pytest.raises(RunFormatError, match="not a ceph-doctor run"):
        load_run(tmp_path)


def test_whole_file_writes_get_the_mode_of_any_new_file(tmp_path):
    from ceph_doctor.atomic import atomic_write_bytes

    atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
    (tmp_path / "plain.html").write_bytes(b"<html></html>")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == (tmp_path / "plain.html").stat().st_mode & 0o777
