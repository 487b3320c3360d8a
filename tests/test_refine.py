"""Two-stage refinement: windows cut where they should be, a sharper image augmented with the input, stage 2
trained jointly or after stage 1, and validation recording both stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ceph_doctor.codec import PointCodec
from ceph_doctor.data.augment import AugmentSettings
from ceph_doctor.data.dataset import LandmarkDataset, PreparedSet
from ceph_doctor.models.refiner import Refinement, Refiner, refine, windows

SETTINGS = Refinement(scale=2, crop=9, jitter=1.0, channels=4, after_epoch=None)


def dot_image(width: int, height: int, x: float, y: float) -> np.ndarray:
    image = np.zeros((height, width), np.uint8)
    image[int(round(y)), int(round(x))] = 255
    return image


def test_a_window_is_centred_on_its_point_in_the_sharper_image():
    """A dot at input px (10, 7) is the centre pixel of the window around (10, 7), at scale 2."""
    sharper = torch.zeros(1, 1, 40, 60)
    sharper[0, 0, 14, 20] = 1.0  # input (10, 7) → sharper ((10 + 0.5) * 2 - 0.5, (7 + 0.5) * 2 - 0.5) = (20.5, 14.5)
    cut = windows(sharper, torch.tensor([[[10.25, 7.25]]]), SETTINGS)  # sharper (21, 15)
    assert cut.shape == (1, 1, 9, 9)
    peak = np.unravel_index(cut[0, 0].argmax().item(), (9, 9))
    assert peak == (4 - 1, 4 - 1)  # one sharper px up and left of the centre (4, 4): the dot's own place
    outside = windows(sharper, torch.tensor([[[-50.0, -50.0]]]), SETTINGS)
    assert outside.abs().max() == 0  # beyond the image: zeros


def test_stage_two_reads_its_position_off_its_map():
    """With a map peaked at a known window pixel, the refined point is that pixel, in input px."""
    refiner = Refiner(num_landmarks=2, channels=4).eval()
    # Make each landmark's map the window itself: the trunk passes the image through, one channel.
    refiner.trunk = torch.nn.Identity()
    refiner.maps = torch.nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        refiner.maps.weight.fill_(1.0)
        refiner.maps.bias.zero_()
        refiner.log_sharpness.fill_(np.log(50.0))
    sharper = torch.zeros(1, 1, 40, 60)
    sharper[0, 0, 17, 24] = 1.0  # sharper (24, 17) = input ((24 + 0.5) / 2 - 0.5, (17 + 0.5) / 2 - 0.5)
    centres = torch.tensor([[[11.0, 8.0], [11.0, 8.0]]])
    refined = refine(refiner, sharper, centres, SETTINGS)
    assert refined[0, 1].tolist() == pytest.approx([11.75, 8.25], abs=0.02)


def test_the_sharper_image_is_augmented_with_the_input_and_its_points():
    """One random draw, the same warp and flip at both resolutions: the dot and the point stay together."""
    prepared = PreparedSet(("a",), (), ["one"], dot_image(32, 24, 20, 9)[None], np.array([[[20.0, 9.0]]], np.float32),
                           np.ones((1, 2), np.float32), np.full(1, np.nan, np.float32), np.array([[32, 24]]),
                           sharper=dot_image(64, 48, 40.5, 18.5)[None])
    settings = AugmentSettings(rotate_deg=30, scale=0.2, translate=0.1, brightness=0, contrast=0, flip=True)
    dataset = LandmarkDataset(prepared, PointCodec((32, 24)), settings, seed=3)
    for epoch in range(4):
        dataset.set_epoch(epoch)
        item = dataset[0]
        x, y = item["points"][0].tolist()
        sharper = item["sharper"][0].numpy()
        row, column = np.unravel_index(sharper.argmax(), sharper.shape)
        assert (column, row) == pytest.approx(((x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5), abs=1.5), epoch


def test_validation_records_both_stages_and_training_the_refiner(tiny_config, tmp_path):
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = tiny_config("model.refine.enabled=true", "model.refine.channels=4", "train.max_epochs=1")
    Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    run = load_run(tmp_path / "run")
    tags = set(run.scalars["tag"])
    assert {"train/loss/refine", "val/mre_mm_refined", "grad/norm/refiner"} <= tags
    val = run.predictions[run.predictions["split"] == "val"]
    plain, refined = (val[val["decode"] == decode].sort_values(["image_id", "landmark_index"]) for decode in
                      ("heatmap", "refined"))
    assert len(plain) == len(refined) > 0
    assert not np.allclose(plain[["pred_x", "pred_y"]].to_numpy(), refined[["pred_x", "pred_y"]].to_numpy())


def test_stage_two_after_stage_one_leaves_stage_one_as_it_was(tiny_config, tmp_path):
    from ceph_doctor.train.loop import Trainer

    config = tiny_config("model.refine.enabled=true", "model.refine.channels=4", "model.refine.after_epoch=1",
                         "train.max_epochs=2")
    trainer = Trainer(config, tmp_path / "run")
    trainer.setup()
    trainer.train_one_epoch(1)
    after_one = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    trainer.train_one_epoch(2)
    after_two = trainer.model.state_dict()
    stage_one = [key for key in after_one if not key.startswith("refiner.")]
    refiner = [key for key in after_one if key.startswith("refiner.") and after_one[key].is_floating_point()]
    assert all(torch.equal(after_one[key], after_two[key]) for key in stage_one)  # weights and BN statistics
    assert any(not torch.equal(after_one[key], after_two[key]) for key in refiner)
