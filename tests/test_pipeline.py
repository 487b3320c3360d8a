"""The pipeline (config → codec, model under its head, loss, decoding, faults) and its registries."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ceph_doctor.codec import HeatmapCodec
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.errors import ConfigError
from ceph_doctor.models import architectures, heads, losses
from ceph_doctor.pipeline import Pipeline
from ceph_doctor.sanity import ConfiguredPipeline

PACKAGE = Path(__file__).resolve().parents[1] / "ceph_doctor"


def test_the_schema_offers_what_the_registries_hold():
    assert SCHEMA["model.arch"].choices == architectures.names()
    assert SCHEMA["model.head"].choices == heads.names()
    assert SCHEMA["model.loss"].choices == ("auto", *losses.names())
    for name in heads.names():
        head = heads.get(name)
        assert head.OUTPUT in ("heatmaps", "points") and losses.get(head.DEFAULT_LOSS).OUTPUT == head.OUTPUT
        assert isinstance(head.AUTOREGRESSIVE, bool) and callable(head.build)
    for name in losses.names():
        assert losses.get(name).OUTPUT in ("heatmaps", "points") and callable(losses.get(name).loss)


def test_a_loss_for_the_other_output_is_refused(tiny_config):
    with pytest.raises(ConfigError, match="heatmap_mse compares heatmaps, but the sequence head outputs points"):
        Pipeline.from_config(tiny_config("model.head=sequence", "model.loss=heatmap_mse"), 5)
    with pytest.raises(ConfigError, match="model.loss: 'focal' is not one of auto, adaptive_wing, coordinate_l1"):
        tiny_config("model.loss=focal")


def test_adaptive_wing_spends_its_gradient_on_the_peak():
    """Its published property: for the same small error, a foreground pixel (target near 1) gets a
    much larger gradient than a background one (target 0); squared error gives both the same."""
    from ceph_doctor.models.losses import adaptive_wing, heatmap_mse

    codec = HeatmapCodec((64, 64), 4, 1.5)
    target, weights = (torch.from_numpy(array)[None] for array in codec.encode(np.array([[30.0, 30.0]], np.float32)))
    peak = np.unravel_index(int(target[0, 0].argmax()), target.shape[2:])
    background = (0, 0)
    for loss, ratio_at_least in ((heatmap_mse.loss, None), (adaptive_wing.loss, 5.0)):
        pred = target.clone()
        pred[0, 0][peak] -= 0.05
        pred[0, 0][background] += 0.05  # the same absolute error on the background
        pred.requires_grad_(True)
        assert loss(target, target, weights).item() == pytest.approx(0.0, abs=1e-7)
        loss(pred, target, weights).backward()
        grad = pred.grad[0, 0].abs()
        ratio = float(grad[peak] / grad[background])
        if ratio_at_least is None:
            assert ratio == pytest.approx(1.0)
        else:
            assert ratio > ratio_at_least


def test_a_config_trains_under_the_adaptive_wing_loss(tiny_config):
    config = tiny_config("model.loss=adaptive_wing")
    pipeline = Pipeline.from_config(config, 3)
    assert pipeline.loss_name == "adaptive_wing"
    torch.manual_seed(0)
    images = torch.randn(2, 1, 64, 64)
    targets, weights = (torch.from_numpy(np.stack([array] * 2)) for array in
                        pipeline.codec.encode(np.array([[10, 12], [40, 20], [30, 50]], np.float32)))
    optimizer = torch.optim.Adam(pipeline.model.parameters(), lr=3e-3)
    losses_seen = []
    for _ in range(15):
        loss = pipeline.loss(pipeline.model(images), targets, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses_seen.append(loss.item())
    assert np.isfinite(losses_seen).all() and losses_seen[-1] < losses_seen[0] * 0.7


def test_faults_are_read_in_the_pipeline_alone():
    """`faults.*` is the scenarios' deliberate bugs: applied in one module, so training, sanity and compare agree."""
    readers = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if re.search(r"""\[["']faults["']\]|get\(["']faults["']""", path.read_text())
    )
    assert readers == ["pipeline.py"]


def test_the_stride_fault_reaches_every_decode_alike(tiny_config):
    faulty, sound = (Pipeline.from_config(tiny_config(f"faults.skip_stride_rescale={flag}"), 5)
                     for flag in ("true", "false"))
    heatmaps = torch.rand(2, 5, 16, 16)
    wrong, right = faulty.decode(heatmaps)[0], sound.decode(heatmaps)[0]
    torch.testing.assert_close(wrong * faulty.stride, right)
    # predict() is decode() mapped back to original px: input px per original px 0.5 → twice the coordinates.
    images = torch.rand(2, 1, 64, 64)
    faulty.model.eval()
    with torch.no_grad():
        coords = faulty.decode(faulty.model(images))[0].numpy()
    points = faulty.predict(images, np.full((2, 2), 0.5, np.float32)).points
    np.testing.assert_allclose(points, (coords + 0.5) / 0.5 - 0.5, rtol=1e-6)
    # The overfit check decodes through the same pipeline, fault and all.
    checked = ConfiguredPipeline(tiny_config("faults.skip_stride_rescale=true"))
    np.testing.assert_allclose(checked.decode(heatmaps), wrong.numpy())


def test_label_noise_moves_training_labels_only(tiny_config):
    from ceph_doctor.data.sources import read_splits
    from ceph_doctor.pipeline import load_splits

    config = tiny_config("faults.train_label_noise=0.02")
    (train, val), (clean_train, clean_val) = load_splits(config), read_splits(config)
    moved = np.linalg.norm(train.records[0].landmarks - clean_train.records[0].landmarks, axis=1)
    assert (moved > 0).all()
    np.testing.assert_array_equal(val.records[0].landmarks, clean_val.records[0].landmarks)
