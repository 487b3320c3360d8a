import pandas as pd
import pytest

from ceph_doctor import load_run
from ceph_doctor.store import layout
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from ceph_doctor.config import load_config
    from conftest import TINY

    run_dir = tmp_path_factory.mktemp("runs") / "run"
    config = load_config(None, [*TINY, "train.max_epochs=3", "model.unfreeze_after=1"])
    Trainer(config, run_dir, hooks=[Recorder(run_dir)]).fit()
    return run_dir


def test_predictions_open_with_pandas_in_one_call(recorded):
    frame = pd.read_parquet(recorded / layout.PREDICTIONS)
    validations, val_images, subset, landmarks = 3, 6, 4, 19
    assert len(frame) == validations * (val_images + subset) * landmarks
    assert set(frame["split"]) == {"val", "train"}
    assert frame.groupby(["epoch", "split"])["image_id"].nunique().to_dict() == {
        (epoch, split): count for epoch in (1, 2, 3) for split, count in (("val", 6), ("train", 4))
    }
    assert frame[["pred_x", "pred_y", "true_x", "true_y", "error_px", "error_mm", "peak", "peak_width"]].notna().all().all()


def test_tensorboard_reader_sees_the_scalars(recorded):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(recorded / layout.TENSORBOARD))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "optim/lr", "val/loss", "val/mre_mm", "train/mre_mm", "grad/norm"} <= tags
    run = load_run(recorded)
    assert [event.value for event in events.Scalars("val/mre_mm")] == pytest.approx(
        run.scalar("val/mre_mm").tolist(), rel=1e-6
    )


def test_step_scalars_show_the_frozen_backbone(recorded):
    run = load_run(recorded)
    steps_per_epoch = run.manifest["steps_per_epoch"]
    frozen = run.scalars[run.scalars["epoch"] == 1]
    thawed = run.scalars[run.scalars["epoch"] == 2]

    def values(frame, tag):
        return frame.loc[frame["tag"] == tag, "value"]

    assert (values(frozen, "grad/norm/backbone") == 0).all()
    assert (values(frozen, "update_ratio/backbone") == 0).all()
    assert (values(frozen, "grad/norm/head") > 0).all()
    assert (values(thawed, "grad/norm/backbone") > 0).all()
    assert (values(thawed, "update_ratio/backbone") > 0).all()
    fraction = values(frozen, "params/trainable_frac")
    assert ((fraction > 0) & (fraction < 0.5)).all() and (values(thawed, "params/trainable_frac") == 1).all()
    assert len(values(run.scalars, "train/loss")) == 3 * steps_per_epoch  # log_every=1


def test_manifest_describes_the_run(recorded):
    manifest = load_run(recorded).manifest
    assert manifest["schema_version"] == layout.SCHEMA_VERSION
    assert manifest["status"] == "completed"
    assert manifest["landmarks"][0] == "Sella" and len(manifest["landmarks"]) == 19
    assert manifest["config"]["model"]["unfreeze_after"] == 1
    assert manifest["dataset"]["val_images"] == 6 and len(manifest["dataset"]["train_subset_ids"]) == 4
    assert manifest["pixel_spacing_mm"] > 0


def test_sequence_decoder_records_both_modes(tmp_path):
    import numpy as np

    names = ["A", "B", "C"]
    recorder = Recorder(tmp_path / "seq", tensorboard=False)
    recorder.start(config={}, landmarks=names)
    true = np.zeros((2, 3, 2), np.float32)
    for epoch in (1, 2):
        recorder.log_sequence_validation(epoch, epoch * 5, loss_tf=0.3, loss_ar=1.2, error_by_position=[1.0, 2.0, 4.0])
        for decode, offset in (("teacher_forced", 1.0), ("autoregressive", 3.0)):
            recorder.log_validation(epoch, epoch * 5, ["i0", "i1"], true + offset, true, decode=decode)
            recorder.commit_validation(epoch, decode)
    recorder.close()

    run = load_run(tmp_path / "seq")
    assert run.scalar("val/loss_ar").tolist() == [1.2, 1.2]
    assert run.scalar("val/error_by_position/002").tolist() == [4.0, 4.0]
    by_mode = run.predictions.groupby("decode")["error_px"].mean()
    assert by_mode["autoregressive"] == pytest.approx(3 * 2**0.5)
    assert by_mode["teacher_forced"] == pytest.approx(2**0.5)
    assert len(run.predictions) == 2 * 2 * 2 * 3


def test_the_whole_models_update_ratio_weighs_each_module_by_its_weights():
    """A tiny module that moves by half its size (a head started near zero) barely moves the whole model."""
    import torch
    from torch import nn

    from ceph_doctor.train.gradients import UpdateRatio

    model = nn.Sequential()
    model.add_module("backbone", nn.Linear(100, 100, bias=False))
    model.add_module("head", nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model.backbone.weight.fill_(1.0)
        model.head.weight.fill_(0.001)
    ratio = UpdateRatio()
    ratio.before(model)
    with torch.no_grad():
        model.backbone.weight.add_(0.001)  # 0.1 % of its size
        model.head.weight.add_(0.0005)  # 50 % of its size
    values = ratio.after(model)
    assert values["update_ratio/backbone"] == pytest.approx(1e-3, rel=1e-4)
    assert values["update_ratio/head"] == pytest.approx(0.5, rel=1e-4)
    assert values["update_ratio/all"] == pytest.approx(1e-3, rel=1e-3)
