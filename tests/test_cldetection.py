"""The CL-detection 2023 layout: 38 landmarks, per-image spacing from each point's scale, held-out split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_layouts import write_cldetection2023

from ceph_doctor.config import load_config
from ceph_doctor.data.cldetection2023 import load_cldetection2023
from ceph_doctor.data.landmarks import CL_DETECTION_2023, ISBI_2015
from ceph_doctor.data.sources import read_splits
from ceph_doctor.errors import DataError


@pytest.mark.parametrize("folder", ["processed_images", None])
def test_points_and_spacing_are_read_per_image(tmp_path, folder):
    truth = write_cldetection2023(tmp_path, count=4, folder=folder)
    loaded = load_cldetection2023(tmp_path)
    assert loaded.names == list(CL_DETECTION_2023) and len(loaded.names) == 38
    assert loaded.names[:19] == list(ISBI_2015)  # the challenge extends ISBI 2015's 19, in their order
    assert [record.image_id for record in loaded.records] == ["1", "2", "3", "4"]
    for record in loaded.records:
        landmarks, spacing = truth[record.image_id]
        np.testing.assert_allclose(record.landmarks, landmarks)
        assert record.spacing_mm == spacing and record.image_path.stem == record.image_id


def test_the_config_holds_out_a_seeded_share(tmp_path):
    write_cldetection2023(tmp_path, count=10)
    settings = ["data.source=cldetection2023", f"data.root={tmp_path}", "data.val_fraction=0.2"]
    train, val = read_splits(load_config(None, settings))
    assert len(train) == 8 and len(val) == 2
    assert not {r.image_id for r in train.records} & {r.image_id for r in val.records}
    again = read_splits(load_config(None, settings))[1]
    assert [r.image_id for r in again.records] == [r.image_id for r in val.records]


def bad_entry(tmp_path, change) -> str:
    write_cldetection2023(tmp_path, count=2)
    path = tmp_path / "train-gt.json"
    data = json.loads(path.read_text())
    change(data["points"])
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as caught:
        load_cldetection2023(tmp_path)
    assert caught.value.path == path
    return caught.value.problem


def test_malformed_points_name_the_entry(tmp_path):
    assert "points[3]" in bad_entry(tmp_path, lambda entries: entries[3].pop("scale"))


def test_a_landmark_number_outside_the_38_is_refused(tmp_path):
    assert "39 is not one of 1..38" in bad_entry(tmp_path, lambda entries: entries[0].update(name="39"))


def test_a_landmark_given_twice_is_refused(tmp_path):
    assert "given twice" in bad_entry(tmp_path, lambda entries: entries[1].update(name="1"))


def test_two_spacings_for_one_image_are_refused(tmp_path):
    assert "two spacings" in bad_entry(tmp_path, lambda entries: entries[5].update(scale=0.2))


def test_an_annotated_image_without_its_file_is_refused(tmp_path):
    write_cldetection2023(tmp_path, count=2)
    (tmp_path / "processed_images" / "2.bmp").unlink()
    with pytest.raises(DataError, match="image 2 is annotated but no file 2"):
        load_cldetection2023(tmp_path)


def test_the_stacked_original_alone_says_to_export_it_first(tmp_path):
    write_cldetection2023(tmp_path, count=1)
    for image in (tmp_path / "processed_images").iterdir():
        image.unlink()
    (tmp_path / "processed_images").rmdir()
    (tmp_path / "train_stack.mha").write_bytes(b"ObjectType = Image\n")
    with pytest.raises(DataError, match="export one image per file first"):
        load_cldetection2023(tmp_path)


def test_a_missing_annotation_file_is_named(tmp_path):
    with pytest.raises(DataError, match="train-gt.json"):
        load_cldetection2023(tmp_path)


def test_a_run_trains_on_it_and_records_mm(tmp_path):
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    write_cldetection2023(tmp_path / "data", count=5)
    config = load_config(None, [
        "data.source=cldetection2023", f"data.root={tmp_path / 'data'}", "data.val_fraction=0.4",
        "data.input_size=[32, 48]", "data.batch_size=2", "data.train_subset=1", "model.channels=8",
        "train.max_epochs=1",
    ])
    run_dir = tmp_path / "run"
    Trainer(config, run_dir, hooks=[Recorder(run_dir)]).fit()
    run = load_run(run_dir)
    val = run.predictions[run.predictions.split == "val"]
    assert val.landmark.nunique() == 38 and val.image_id.nunique() == 2
    spacing = {image: truth[1] for image, truth in write_cldetection2023(tmp_path / "again", count=5).items()}
    ratio = (val.error_mm / val.error_px).groupby(val.image_id).first()
    assert all(ratio[image] == pytest.approx(spacing[image]) for image in ratio.index)
