"""Test-time augmentation: each view's way there and back, and what a validation records of it."""

import numpy as np
import pytest
import torch

from ceph_doctor.data.tta import View, points_back, views_for, warp
from ceph_doctor.errors import ConfigError


def _dot_image(x: float, y: float, width: int = 48, height: int = 40, sigma: float = 1.5) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    return torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))[None, None]


def _centroid(image: torch.Tensor) -> torch.Tensor:
    image = image[0, 0]
    ys, xs = torch.meshgrid(torch.arange(image.shape[0], dtype=image.dtype), torch.arange(image.shape[1], dtype=image.dtype),
                            indexing="ij")
    return torch.stack([(image * xs).sum(), (image * ys).sum()]) / image.sum()


@pytest.mark.parametrize("view", [View(flip=True), View(scale=1.15), View(scale=0.85), View(angle_deg=7.0),
                                  View(True, 1.1, -7.0)], ids=str)
def test_a_point_found_in_a_view_maps_back_to_where_it_is_in_the_image(view):
    point = torch.tensor([31.3, 14.6], dtype=torch.float64)
    seen = _centroid(warp(_dot_image(*point.tolist()), view))
    assert not torch.allclose(seen, point, atol=0.5)  # the view really moved it
    back = points_back(seen[None, None], view, 48, 40, ())[0, 0]
    assert torch.allclose(back, point, atol=0.05), (seen, back)


def test_a_flipped_view_swaps_the_twins_back_and_no_other_view_does():
    points = torch.tensor([[[10.0, 5.0], [30.0, 5.0], [20.0, 9.0]]])  # a left twin, a right twin, a middle point
    flipped = points_back(points, View(flip=True), 41, 20, ((0, 1),))
    assert flipped[0].tolist() == [[10.0, 5.0], [30.0, 5.0], [20.0, 9.0]]  # mirrored about x = 20 and swapped
    assert points_back(points, View(scale=1.0, angle_deg=0.0), 41, 20, ((0, 1),)).equal(points)


def test_the_views_are_the_flip_crossed_with_the_plain_image_each_scale_and_each_rotation():
    views = views_for({"flip": True, "scales": [0.9, 1.1], "rotations": [-7, 7], "flip_pairs": None})
    assert len(views) == 10 and views[0].plain and len(set(views)) == 10
    assert views_for({"flip": False, "scales": [], "rotations": [], "flip_pairs": None}) == []


def test_validation_records_the_plain_and_the_augmented_predictions(tiny_config, tmp_path):
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = tiny_config("train.max_epochs=1", "eval.tta.flip=true", "eval.tta.scales=[1.1]")
    Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    run = load_run(tmp_path / "run")
    val = run.predictions[run.predictions["split"] == "val"]
    assert set(val["decode"]) == {"heatmap", "tta"}
    plain, augmented = (val[val["decode"] == d].sort_values(["image_id", "landmark_index"]) for d in ("heatmap", "tta"))
    assert np.array_equal(plain["true_x"].to_numpy(), augmented["true_x"].to_numpy())
    assert not np.allclose(plain["pred_x"].to_numpy(), augmented["pred_x"].to_numpy())
    tags = set(run.scalars["tag"])
    assert {"val/mre_mm", "val/mre_mm_tta"} <= tags and "val/loss_tta" not in tags
    assert not run.predictions[run.predictions["split"] == "train"]["decode"].eq("tta").any()  # the views: val only


def test_flip_pairs_naming_a_landmark_the_data_lacks_are_refused(tiny_config):
    from ceph_doctor.pipeline import Pipeline

    pipeline = Pipeline.from_config(tiny_config("eval.tta.flip=true", "eval.tta.flip_pairs=[[Sella, Left eye]]"), 19)
    with pytest.raises(ConfigError, match="eval.tta.flip_pairs: 'Left eye'"):
        pipeline.tta_flip_pairs(("Sella", "Nasion"), ())
