"""The sequence decoder: teacher-forced and autoregressive decoding agree where they must, the cache
changes nothing but the cost, scheduled sampling decays as documented, and training records both modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ceph_doctor.codec import PointCodec
from ceph_doctor.config import load_config
from ceph_doctor.models import build_model
from ceph_doctor.store import load_run
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder
from ceph_doctor.models.sampling import SCHEDULES, teacher_forcing_probability

SETTINGS = {"dim": 32, "layers": 2, "heads": 4, "offsets": False, "support": False}


def tiny_model(landmarks: int = 7, **settings) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("unet", landmarks, channels=8, head="sequence", head_settings={**SETTINGS, **settings})
    with torch.no_grad():  # away from the zero-initialised output, so that every input matters
        model.head.out.weight.normal_(0, 0.3)
    # In float64: an untrained decoder fed back its own points amplifies float32 rounding step by step.
    return model.double().eval()


IMAGES = torch.randn(3, 1, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("offsets", [False, True])
def test_cached_decoding_equals_rerunning_the_prefix(offsets):
    model = tiny_model(offsets=offsets)
    with torch.no_grad():
        assert torch.allclose(model(IMAGES), model(IMAGES, cache=False), atol=1e-5)


@pytest.mark.parametrize("offsets", [False, True])
def test_teacher_forced_on_its_own_points_is_autoregressive(offsets):
    """All steps at once under the causal mask, fed the autoregressive points, give those same points."""
    model = tiny_model(offsets=offsets)
    with torch.no_grad():
        own = model(IMAGES)
        assert torch.allclose(model(IMAGES, teacher=own), own, atol=1e-5)


def test_a_step_sees_only_the_points_before_it():
    model = tiny_model()
    teacher = torch.rand(3, 7, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    moved = teacher.clone()
    moved[:, 3] += 0.2
    with torch.no_grad():
        before, after = model(IMAGES, teacher=teacher), model(IMAGES, teacher=moved)
    changed = (before - after).abs().amax(dim=(0, 2))
    assert torch.all(changed[:4] < 1e-6) and torch.all(changed[4:] > 1e-4)


def test_scheduled_sampling_ends_match_teacher_forcing_and_inference():
    model = tiny_model()
    teacher = torch.rand(3, 7, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(IMAGES, teacher=teacher, teacher_forcing=0.0), model(IMAGES), atol=1e-5)
        assert torch.allclose(model(IMAGES, teacher=teacher, teacher_forcing=1.0),
                              model(IMAGES, teacher=teacher), atol=1e-6)
        mixed = [model(IMAGES, teacher=teacher, teacher_forcing=0.5, generator=torch.Generator().manual_seed(4))
                 for _ in range(2)]
    assert torch.equal(*mixed)  # the coins come from the generator: a seed repeats them


def test_gradient_does_not_flow_through_fed_back_points():
    model = tiny_model().train()
    teacher = torch.rand(3, 7, 2, dtype=torch.float64)
    points = model(IMAGES, teacher=teacher, teacher_forcing=0.0)
    points[:, 0].sum().backward()  # step 0 only: every later step's input is its output, detached
    assert model.head.point_embed[0].weight.grad is None or not model.head.point_embed[0].weight.grad.any()


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_teacher_forcing_decays_from_one_to_near_zero(schedule):
    values = [teacher_forcing_probability(schedule, u) for u in np.linspace(0, 1, 41)]
    assert values[0] > 0.95 and values[-1] < 0.05
    assert all(later <= earlier for earlier, later in zip(values, values[1:]))


def test_no_schedule_is_teacher_forcing_only():
    assert teacher_forcing_probability(None, 0.7) == 1.0
    with pytest.raises(ValueError, match="scheduled_sampling"):
        teacher_forcing_probability("cosine", 0.5)


def test_support_example_conditions_the_decoder_and_survives_a_checkpoint():
    model = tiny_model(support=True)
    with pytest.raises(RuntimeError, match="support"):
        model(IMAGES)
    points = torch.rand(7, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    model.set_support(IMAGES[:1], points)
    with torch.no_grad():
        first = model(IMAGES)
        model.set_support(IMAGES[:1], points.flip(0))
        assert not torch.allclose(model(IMAGES), first)
        fresh = tiny_model(support=True)
        fresh.load_state_dict(model.state_dict())
        assert torch.allclose(fresh(IMAGES), model(IMAGES))


def test_point_codec_round_trip_and_missing_landmarks():
    codec = PointCodec((64, 48))
    landmarks = np.array([[0.0, 0.0], [63.0, 47.0], [np.nan, np.nan], [100.0, 10.0]])
    points, weights = codec.encode(landmarks)
    assert weights.tolist() == [1, 1, 0, 0]
    decoded = codec.decode(torch.from_numpy(points)[None])[0].numpy()
    assert np.allclose(decoded[:2], landmarks[:2], atol=1e-5)


def test_training_records_both_decoding_modes(tmp_path, tiny_config):
    config = tiny_config("model.head=sequence", "model.sequence.dim=32", "train.scheduled_sampling=linear")
    Trainer(config, tmp_path, hooks=[Recorder(tmp_path)]).fit()
    run = load_run(tmp_path)
    tags = set(run.tags)
    assert {"val/loss_tf", "val/loss_ar", "val/mre_mm_tf", "val/mre_mm", "train/loss_tf",
            "train/teacher_forcing", "train/eval_loss_tf"} <= tags
    positions = sorted(tag for tag in tags if tag.startswith("val/error_by_position/"))
    assert len(positions) == len(run.landmarks) == 19
    assert set(run.predictions["decode"]) == {"autoregressive", "teacher_forced"}
    val = run.predictions[(run.predictions["split"] == "val") & (run.predictions["epoch"] == 2)]
    # The error by position is the autoregressive rows' mean error at each landmark, in mm.
    expected = val[val["decode"] == "autoregressive"].groupby("landmark_index")["error_mm"].mean()
    logged = [run.scalar(tag).iloc[-1] for tag in positions]
    assert np.allclose(logged, expected.to_numpy(), rtol=1e-4)
    sampling = run.scalar("train/teacher_forcing")
    assert sampling.iloc[0] == pytest.approx(1.0) and sampling.iloc[-1] < sampling.iloc[0]
    assert math.isfinite(run.scalar("val/loss_ar").iloc[-1])


def test_checkpoint_of_a_sequence_run_compares(tmp_path, tiny_config):
    from ceph_doctor.compare import compare_checkpoints

    config = tiny_config("model.head=sequence", "model.sequence.dim=32")
    Trainer(config, tmp_path, hooks=[Recorder(tmp_path)]).fit()
    folder = tmp_path / "checkpoints"
    comparison = compare_checkpoints(folder / "epoch_0001.pth", folder / "epoch_0002.pth")
    assert comparison.pair is not None and comparison.pair.a.result.decode == "autoregressive"
    assert comparison.pair.a.result.metrics.overall["mre_mm"] > 0


def test_sequence_config_is_checked():
    from ceph_doctor.errors import ConfigError

    with pytest.raises(ConfigError, match="scheduled_sampling"):
        load_config(None, ["train.scheduled_sampling=cosine"])
