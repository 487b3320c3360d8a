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


def test_loss_terms_are_a_weighted_sum_each_recorded_by_name(tiny_config, tmp_path):
    from ceph_doctor.models.losses import adaptive_wing, heatmap_mse
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = tiny_config("loss.terms={adaptive_wing: 1.0, heatmap_mse: 50}", "train.max_epochs=1")
    pipeline = Pipeline.from_config(config, 19)
    assert pipeline.loss_name == "adaptive_wing + heatmap_mse"
    torch.manual_seed(0)
    output = torch.rand(2, 19, 32, 32)
    targets, weights = torch.rand(2, 19, 32, 32), torch.ones(2, 19)
    expected = adaptive_wing.loss(output, targets, weights) + 50 * heatmap_mse.loss(output, targets, weights)
    assert pipeline.loss(output, targets, weights).item() == pytest.approx(expected.item())
    Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    scalars = load_run(tmp_path / "run").scalars.pivot_table(index="step", columns="tag", values="value")
    parts = scalars["train/loss/adaptive_wing"] + scalars["train/loss/heatmap_mse"]
    assert np.allclose(parts, scalars["train/loss"], rtol=1e-5)


def test_loss_terms_are_checked_when_the_config_is_read(tiny_config):
    with pytest.raises(ConfigError, match="loss.terms: 'wing' is not one of"):
        tiny_config("loss.terms={wing: 1}")
    with pytest.raises(ConfigError, match="loss.terms: .* is out of range"):
        tiny_config("loss.terms={heatmap_mse: 0}")
    with pytest.raises(ConfigError, match="loss.terms: coordinate_wing compares points, but the heatmap head"):
        Pipeline.from_config(tiny_config("loss.terms={heatmap_mse: 1, coordinate_wing: 1}"), 5)


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


def test_wing_gives_small_errors_a_large_gradient_and_large_ones_l1s():
    from ceph_doctor.models.losses import coordinate_l1, coordinate_wing

    def slope(loss, error_px: float) -> float:
        pred = torch.tensor([[[error_px, 0.0]]], requires_grad=True)
        loss(pred, torch.zeros(1, 1, 2), torch.ones(1, 1)).backward()
        return float(pred.grad[0, 0, 0])

    width = coordinate_wing.WIDTH
    assert slope(coordinate_wing.loss, 0.1) > 4 * slope(coordinate_l1.loss, 0.1)  # w / (eps + x) ≈ 4.8 vs 1
    assert slope(coordinate_wing.loss, 3 * width) == pytest.approx(slope(coordinate_l1.loss, 3 * width))
    # The log part and the shifted L1 meet at w: no jump for a point crossing it.
    below, above = (float(coordinate_wing.loss(torch.tensor([[[x, 0.0]]]), torch.zeros(1, 1, 2), torch.ones(1, 1)))
                    for x in (width - 1e-4, width + 1e-4))
    assert above == pytest.approx(below, abs=1e-3)


@pytest.mark.parametrize("name, error_px, expected", [
    ("coordinate_wing", 3.0, 10 * np.log1p(3 / 2) / 2),  # per point: w ln(1 + 3/2) on x, 0 on y; mean of 2 axes
    ("coordinate_smooth_l1", 0.5, 0.5 * 0.5**2 / 2),
    ("coordinate_smooth_l1", 3.0, (3.0 - 0.5) / 2),
    ("coordinate_l1", 3.0, None),  # in [0, 1] of the image: 3 px of 64 is 3/64
])
def test_a_loss_in_pixels_gets_pixels_from_a_head_that_predicts_fractions(tiny_config, name, error_px, expected):
    config = tiny_config("model.head=sequence", "model.sequence.dim=32", f"model.loss={name}")
    pipeline = Pipeline.from_config(config, 1)
    width, height = config["data"]["input_size"]
    target = torch.tensor([[[0.5, 0.5]]])
    pred = target + torch.tensor([[[error_px / width, 0.0]]])
    value = float(pipeline.loss(pred, target, torch.ones(1, 1)))
    assert value == pytest.approx(expected if expected is not None else error_px / width / 2, rel=1e-4)


def pixel_errors_while_training(config: dict, steps: int, teacher: bool) -> list[float]:
    """Train the configured model on one fixed batch; its mean point error in input px before each step
    (judged in pixels, the same for every loss whatever the loss's own scale)."""
    pipeline = Pipeline.from_config(config, 3)
    torch.manual_seed(0)
    images = torch.randn(2, 1, *config["data"]["input_size"][::-1])
    targets, weights = (torch.from_numpy(np.stack([array] * 2)) for array in
                        pipeline.codec.encode(np.array([[10, 12], [40, 20], [30, 50]], np.float32)))
    optimizer = torch.optim.Adam(pipeline.model.parameters(), lr=3e-3)
    size = torch.tensor(config["data"]["input_size"], dtype=torch.float32)
    errors_px = []
    for _ in range(steps):
        output = pipeline.model(images, targets) if teacher else pipeline.model(images)
        errors_px.append(float(((output.detach() - targets) * size).norm(dim=-1).mean()))
        loss = pipeline.loss(output, targets, weights)
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return errors_px


@pytest.mark.parametrize("name", ["coordinate_wing", "coordinate_smooth_l1", "coordinate_mse"])
def test_the_sequence_head_trains_under_each_coordinate_loss(tiny_config, name):
    config = tiny_config("model.head=sequence", "model.sequence.dim=32", f"model.loss={name}")
    errors_px = pixel_errors_while_training(config, steps=30, teacher=True)
    assert errors_px[-1] < 0.5 * errors_px[0]


def test_the_integral_head_reads_a_peak_where_the_heatmap_codec_does():
    """Soft-argmax of a sharp peak lands where the codec decodes it: one pixel convention for both heads."""
    from ceph_doctor.codec import PointCodec
    from ceph_doctor.models.point_heads import IntegralModel

    codec = HeatmapCodec(input_size=(64, 48), stride=2, sigma=0.4)
    truth = np.array([[10.0, 12.0], [40.0, 30.0], [3.0, 44.0]])
    maps = torch.from_numpy(codec.encode(truth)[0])[None] * 60  # sharp: the softmax is nearly one-hot

    class Maps(torch.nn.Module):  # a heatmap model whose backbone ignores the image and returns these maps
        stride, size_multiple, head = 2, 16, torch.nn.Identity()
        backbone = type("Fixed", (torch.nn.Module,), {"forward": lambda self, images: maps})()

        def check_input_size(self, height, width):
            pass

    points = IntegralModel(Maps(), 3)(torch.zeros(1, 1, 48, 64))[0].detach().numpy()
    expected, _ = PointCodec((64, 48)).encode(codec.decode(maps).coords[0].numpy())
    np.testing.assert_allclose(points, expected, atol=1e-3)


@pytest.mark.parametrize("head", ["regression", "integral"])
def test_a_points_head_learns_the_points(tiny_config, head):
    config = tiny_config(f"model.head={head}")
    pipeline = Pipeline.from_config(config, 3)
    assert pipeline.loss_name == "coordinate_l1" and not pipeline.autoregressive
    # A soft-argmax starts at the image centre with weak gradients: more steps than the sequence decoder.
    errors_px = pixel_errors_while_training(config, steps=80, teacher=False)
    assert errors_px[-1] < 0.5 * errors_px[0]


def test_a_frozen_backbone_under_a_regression_head_trains_the_head_alone(tiny_config, tmp_path):
    """Story 5's fine-tuner: a frozen backbone, a new head regressing points; trained and recorded end to end."""
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = tiny_config("model.head=regression", "model.unfreeze_after=never", "train.max_epochs=1")
    trainer = Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")])
    trainer.setup()
    backbone_before = [p.detach().clone() for p in trainer.model.backbone.parameters()]
    head_before = [p.detach().clone() for p in trainer.model.head.parameters()]
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(backbone_before, trainer.model.backbone.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(head_before, trainer.model.head.parameters()))
    predictions = load_run(tmp_path / "run").predictions
    val = predictions[predictions.split == "val"]
    assert len(val) == config["data"]["synthetic"]["val_images"] * val.landmark.nunique()
    assert val.error_px.notna().all() and val.peak.isna().all()  # points, not heatmaps: no peak to measure


def test_the_fine_tuner_example_builds_at_both_sizes():
    """examples/frozen_finetune.yaml (story 5): its pretraining and fine-tuning configs validate and build
    (training it takes minutes: `benchmarks`-sized, run by hand as its header says)."""
    from ceph_doctor.scenarios import load_scenario

    scenario = load_scenario(PACKAGE.parent / "examples" / "frozen_finetune.yaml")
    for size in ("test", "full"):
        config = scenario.config(size)
        pipeline = Pipeline.from_config(config, len(config["data"]["landmarks"]))
        assert (config["model"]["arch"], pipeline.loss_name, pipeline.autoregressive) == ("resnet", "coordinate_mse", False)
        assert config["train"]["schedule"] == "plateau" and config["model"]["unfreeze_after"] == "never"
        pretrain = scenario.config(size, scenario.pretrain)
        assert Pipeline.from_config(pretrain, len(pretrain["data"]["landmarks"])).loss_name == "heatmap_mse"
