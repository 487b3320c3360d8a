"""The single-image overfit check: a sound pipeline passes, each broken one fails at its stage, with its cause.

Broken pipelines are built by wrapping the sound pipeline's own functions (the
way such bugs enter real code), except a too-small sigma, which is a setting.
"""

from __future__ import annotations

import io

import click
import numpy as np
import pytest
import torch
from fixtures_layouts import write_folder
from torch import nn
from click.testing import CliRunner
from rich.console import Console

from ceph_doctor.cli import sanity_command
from ceph_doctor.cli.sanity_command import sanity_app
from ceph_doctor.config import load_config
from ceph_doctor.engine import apply_fixes
from ceph_doctor.errors import UserInputError
from ceph_doctor.metrics import point_errors
from ceph_doctor.sanity import DEFAULT_STEPS, ConfiguredPipeline, Evidence, overfit_check
from ceph_doctor.sanity.pipeline import CheckablePipeline, find_record
from ceph_doctor.sanity.metric_probe import documented_pck
from ceph_doctor.sanity.stages import (
    autoregressive_matches_teacher_forced,
    heatmaps_peak_at_targets,
    loss_falls,
    metric_agrees,
)

# Small and fast, yet a real pipeline: six well-separated landmarks keep a
# head of 8 channels able to fit every heatmap exactly.
TINY = [
    "data.input_size=[64, 80]",
    "data.synthetic.render_size=[128, 160]",
    "model.channels=8",
    "data.landmarks=[Sella, Nasion, Porion, Menton, Gonion, Subnasale]",
]
STEPS = 100
LR = 2e-3


@pytest.fixture(autouse=True)
def one_thread():
    """As the command does on CPU: a one-image batch gains nothing from threads and loses much on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_pipeline(*overrides: str, image: str | None = None) -> ConfiguredPipeline:
    return ConfiguredPipeline(load_config(None, [*TINY, *overrides]), image)


def stage_number(report, stage) -> int:
    return report.stages.index(stage) + 1


def test_sound_pipeline_passes_every_stage():
    pipeline = tiny_pipeline()
    assert isinstance(pipeline, CheckablePipeline)
    report = overfit_check(pipeline, steps=STEPS, lr=LR)
    assert report.passed, report.verdict()
    assert [stage.status for stage in report.stages] == ["pass"] * 5 + ["skipped"]
    assert report.evidence.metric_value >= 95.0
    assert report.stages[0].evidence["ratio"] < 0.05
    assert report.verdict().startswith("passed")


def test_a_batch_of_repeats_passes_like_one_image():
    pipeline = ConfiguredPipeline(load_config(None, TINY), repeats=2)
    assert pipeline.batch()[0].shape[0] == 2 and pipeline.truth.shape[0] == 2
    assert overfit_check(pipeline, steps=STEPS, lr=LR).passed


def divide_decode_by_stride(pipeline):
    decode = pipeline.decode
    pipeline.decode = lambda output: decode(output) / pipeline.stride


def swap_decoded_axes(pipeline):
    decode = pipeline.decode
    pipeline.decode = lambda output: decode(output)[..., ::-1]


def skip_resize_undo(pipeline):
    pipeline.to_original = lambda points: np.asarray(points, np.float64)


def pck_over_input_box(pipeline):
    """PCK divided by the resized input image's longer side, as if that were the original's box."""
    def metric(pred, truth):
        return 100.0 * float(np.nanmean(point_errors(pred, truth) / max(pipeline.input_size) < 0.05))

    pipeline.metric = metric


def freeze_every_parameter(pipeline):
    for parameter in pipeline.model.parameters():
        parameter.requires_grad_(False)


@pytest.mark.parametrize(
    "break_it, stage, diagnosis, words",
    [
        (divide_decode_by_stride, 4, "coordinate-mismatch", "scaled by 1/stride: stride not undone"),
        (swap_decoded_axes, 4, "coordinate-mismatch", "x and y swapped"),
        (skip_resize_undo, 4, "coordinate-mismatch", "scaled by the resize factor: resize not undone"),
        (pck_over_input_box, 5, "metric-loss-mismatch", "resized input image's longer side"),
        (freeze_every_parameter, 1, "frozen-backbone", "frozen"),
    ],
    ids=["missing-stride", "xy-swap", "missing-resize", "metric-box", "frozen"],
)
def test_broken_pipeline_fails_at_its_stage(break_it, stage, diagnosis, words):
    pipeline = tiny_pipeline()
    break_it(pipeline)
    report = overfit_check(pipeline, steps=STEPS, lr=LR)
    failure = report.first_failure
    assert not report.passed
    assert stage_number(report, failure) == stage, report.verdict()
    assert failure.diagnosis == diagnosis
    assert words in failure.likely_cause
    assert failure.fix
    assert all(earlier.passed for earlier in report.stages[: stage - 1])
    later = [s for s in report.stages[stage:] if s.passed is not None]
    assert all(s.after_failure for s in later) and not failure.after_failure


def test_coordinate_bug_scenario_is_caught_from_its_config():
    report = overfit_check(tiny_pipeline("faults.skip_stride_rescale=true"), steps=STEPS, lr=LR)
    assert stage_number(report, report.first_failure) == 4
    assert "stride not undone" in report.first_failure.likely_cause


def test_far_too_small_sigma_fails_while_learning_heatmaps():
    report = overfit_check(tiny_pipeline("codec.sigma=0.3"), steps=STEPS, lr=LR)
    failure = report.first_failure
    # Narrow targets show as a loss that falls too slowly or as peaks that never form; which of the two
    # comes first depends on the step budget, and both are stages of learning the heatmaps.
    assert stage_number(report, failure) in (1, 2), report.verdict()
    assert failure.diagnosis == "sigma-too-small"
    assert "sigma too small" in failure.likely_cause
    assert failure.fix == "set codec.sigma=2.0"
    assert report.stages[0].evidence["heatmap.sigma"] < 0.5


def test_frame_bug_without_image_sizes_is_still_described():
    pipeline = tiny_pipeline()
    divide_decode_by_stride(pipeline)
    pipeline.input_size = pipeline.original_size = None  # a pipeline that does not say how it resizes
    report = overfit_check(pipeline, steps=STEPS, lr=LR)
    failure = report.first_failure
    assert stage_number(report, failure) == 4
    assert "stride not undone" in failure.likely_cause  # told by the scale alone
    assert failure.evidence["step"] == "decode() or to_original()"
    assert failure.evidence["scale"] == pytest.approx([0.5, 0.5], abs=0.02)


# -- a pipeline of one's own: a coordinate-regression sequence decoder ------------------------------------
class PointSequenceModel(nn.Module):
    """Image → K points one after another, each step fed the previous point (normalised to [0, 1])."""

    def __init__(self, num_points: int, hidden: int = 32):
        super().__init__()
        self.num_points = num_points
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(32, hidden), nn.Tanh(),
        )
        self.cell = nn.GRUCell(2, hidden)
        self.readout = nn.Linear(hidden, 2)

    def start(self, images):
        return self.encoder(images), images.new_zeros(len(images), 2)

    def step(self, fed, state):
        state = self.cell(fed, state)
        return self.readout(state), state

    def forward(self, inputs):
        """Teacher forcing: `inputs` is (images, the true point sequence)."""
        images, teacher = inputs
        state, fed = self.start(images)
        outputs = []
        for k in range(self.num_points):
            point, state = self.step(fed, state)
            outputs.append(point)
            fed = teacher[:, k]
        return torch.stack(outputs, dim=1)


class SequencePipeline:
    """The protocol filled in by hand, as a user would: no heatmaps, so stage 2 is skipped."""

    SIZE = 32  # input px; the "original" images are 4x larger

    def __init__(self, feed_back_scale: float = 1.0):
        torch.manual_seed(0)
        self.model = PointSequenceModel(num_points=5)
        generator = torch.Generator().manual_seed(1)
        self.images = torch.rand(1, 1, self.SIZE, self.SIZE, generator=generator)
        self.points = torch.rand(1, 5, 2, generator=generator) * 0.8 + 0.1  # normalised
        self.truth = self.to_original(self.points.numpy() * self.SIZE)
        self.feed_back_scale = feed_back_scale  # != 1: the inference loop feeds back another frame

    def batch(self):
        return (self.images, self.points), self.points

    def loss(self, output, targets):
        return nn.functional.mse_loss(output, targets)

    def decode(self, output):
        return output.detach().numpy() * self.SIZE

    def to_original(self, points):
        return np.asarray(points, np.float64) * 4.0

    def metric(self, pred, truth):
        return documented_pck(pred, truth, 0.05)

    def decode_teacher_forced(self, inputs, targets):
        return self.decode(self.model(inputs))

    def decode_autoregressive(self, inputs):
        images, _ = inputs
        state, fed = self.model.start(images)
        outputs = []
        for _ in range(self.model.num_points):
            point, state = self.model.step(fed, state)
            outputs.append(point)
            fed = point * self.feed_back_scale
        return self.decode(torch.stack(outputs, dim=1))


def test_own_sequence_pipeline_passes_with_heatmap_stage_skipped():
    report = overfit_check(SequencePipeline(), steps=200, lr=1e-2)
    assert [stage.status for stage in report.stages] == ["pass", "skipped", "pass", "pass", "pass", "pass"], [
        stage.message for stage in report.stages
    ]


def test_autoregressive_loop_bug_is_told_from_exposure_bias():
    report = overfit_check(SequencePipeline(feed_back_scale=SequencePipeline.SIZE), steps=200, lr=1e-2)
    failure = report.first_failure
    assert stage_number(report, failure) == 6, report.verdict()
    assert "feeds back something else" in failure.likely_cause
    assert failure.evidence["first_divergent_position"] == 1


# -- stages judged on recorded evidence alone ------------------------------------------------------------
def evidence(**changes) -> Evidence:
    truth = np.array([[[10.0, 10.0], [50.0, 20.0], [30.0, 60.0], [70.0, 80.0]]])
    fields = dict(
        losses=np.geomspace(1.0, 1e-3, 50), eval_loss=1e-3, trainable_fraction=1.0, changed_fraction=1.0,
        pred_input=truth, target_input=truth, pred_original=truth, truth=truth, metric_value=100.0,
        probe_pred=truth, probe_truth=truth, probe_metric=100.0,
    )
    return Evidence(**{**fields, **changes})


def test_growing_autoregressive_gap_reads_as_exposure_bias():
    truth = evidence().truth
    gap = np.array([0.1, 0.6, 1.5, 3.0])[None, :, None]  # compounding: each step a little further off
    result = autoregressive_matches_teacher_forced(
        evidence(teacher_forced=truth, autoregressive=truth + gap)
    )
    assert result.passed is False
    assert "exposure bias" in result.likely_cause
    assert "scheduled_sampling" in result.fix


def test_eval_mode_that_differs_from_training_is_named():
    truth = evidence().truth
    maps = np.zeros((1, 4, 8, 8), np.float32)
    maps[..., 4, 4] = 1.0
    result = heatmaps_peak_at_targets(
        evidence(eval_loss=1.0, pred_heatmaps=np.roll(maps, 3, axis=-1), target_heatmaps=maps, truth=truth)
    )
    assert result.passed is False
    assert "eval mode" in result.likely_cause


def test_diverged_loss_is_named():
    result = loss_falls(evidence(losses=np.array([1.0, 3.0, np.nan])))
    assert result.passed is False and result.diagnosis == "diverged"


def test_metric_returning_a_fraction_is_named():
    from ceph_doctor.sanity.overfit import probe_predictions

    truth = evidence().truth
    probe_pred, probe_truth = probe_predictions(truth)
    fraction = documented_pck(probe_pred, probe_truth, 0.05) / 100
    result = metric_agrees(evidence(probe_pred=probe_pred, probe_truth=probe_truth, probe_metric=fraction))
    assert result.passed is False
    assert "fraction" in result.likely_cause


def test_documented_pck_matches_the_metrics_module():
    from ceph_doctor.metrics import landmark_metrics

    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 200, (4, 7, 2))
    truth[1, 2] = np.nan
    pred = truth + rng.normal(0, 8, truth.shape)
    assert documented_pck(pred, truth, 0.05) == pytest.approx(landmark_metrics(pred, truth).overall["pck@0.05"])


# -- choosing the image, and the command ------------------------------------------------------------------
def test_image_chosen_by_id_including_a_validation_image():
    assert tiny_pipeline(image="synthetic-val-0001").image_id == "synthetic-val-0001"
    with pytest.raises(UserInputError, match="no image with this id"):
        find_record(load_config(None, TINY), "synthetic-train-9999")


def test_image_path_must_be_named_by_the_annotations(tmp_path):
    write_folder(tmp_path / "data")
    config = load_config(None, ["data.source=folder", f"data.root={tmp_path / 'data'}"])
    record, _ = find_record(config, str(tmp_path / "data" / "a.jpg"))
    assert record.image_id == "a"
    stray = tmp_path / "stray.png"
    stray.write_bytes(b"")
    with pytest.raises(UserInputError, match="not an image of the configured data"):
        find_record(config, str(stray))


def cli_app() -> click.Group:
    app = click.Group()
    app.add_command(sanity_app, name="sanity")
    return app


def test_command_exit_codes_and_picture(tmp_path):
    settings = [*TINY, f"optimizer.lr={LR}"]
    options = [arg for item in settings for arg in ("--set", item)] + ["--steps", str(STEPS)]
    picture = tmp_path / "overfit.png"
    passed = CliRunner().invoke(cli_app(), ["sanity", "overfit", *options, "--out", str(picture)])
    assert passed.exit_code == 0, passed.output
    assert "passed" in passed.output and picture.stat().st_size > 0
    fixed = tmp_path / "fixed.yaml"
    failed = CliRunner().invoke(cli_app(), ["sanity", "overfit", *options, "--set", "codec.sigma=0.3",
                                            "--out", str(tmp_path / "failed.png"), "--emit-config", str(fixed)])
    assert failed.exit_code == 1, failed.output
    assert "codec.sigma=2.0" in failed.output
    # The verdict's fix, applied by --emit-config, repairs the pipeline it was found in.
    assert load_config(fixed, [])["codec"]["sigma"] == 2.0
    repaired = CliRunner().invoke(cli_app(), ["sanity", "overfit", "--config", str(fixed), "--steps", str(STEPS),
                                              "--out", str(tmp_path / "repaired.png")])
    assert repaired.exit_code == 0, repaired.output


def test_emit_config_writes_nothing_for_a_bug_in_code_or_a_pass(tmp_path):
    pipeline = tiny_pipeline()
    swap_decoded_axes(pipeline)
    report = overfit_check(pipeline, steps=STEPS, lr=LR)
    assert report.first_failure.advice and not report.first_failure.fixes  # a code bug: no config key fixes it
    console = Console(file=io.StringIO())
    sanity_command.write_fixed_config(pipeline.config, report, tmp_path / "fixed.yaml", console)
    assert not (tmp_path / "fixed.yaml").exists()
    assert "no config change fixes this" in console.file.getvalue()


def test_the_stride_fault_is_repaired_by_the_config_it_names():
    pipeline = tiny_pipeline("faults.skip_stride_rescale=true")
    failure = overfit_check(pipeline, steps=STEPS, lr=LR).first_failure
    fixed, _ = apply_fixes(pipeline.config, failure.fixes)
    assert fixed["faults"]["skip_stride_rescale"] is False
    assert overfit_check(ConfiguredPipeline(fixed), steps=STEPS, lr=LR).passed


def test_help_ends_with_an_example():
    for command in (["sanity"], ["sanity", "overfit"]):
        result = CliRunner().invoke(cli_app(), [*command, "--help"])
        assert result.output.strip().endswith("Example: ceph-doctor sanity overfit --steps 300")
    assert DEFAULT_STEPS == sanity_command.DEFAULT_STEPS


# -- the configured sequence decoder -----------------------------------------------------------------------
SEQUENCE = ("model.head=sequence", "model.sequence.dim=32")
SEQUENCE_STEPS = 300  # a decoder that attends to the image needs more steps than a heatmap head to memorise it


def test_configured_sequence_decoder_memorises_and_decodes_on_its_own():
    """Scheduled sampling, as configured: the decoder fits the image teacher-forced and reproduces it autoregressively."""
    report = overfit_check(tiny_pipeline(*SEQUENCE, "train.scheduled_sampling=linear"), steps=SEQUENCE_STEPS, lr=LR)
    assert [stage.status for stage in report.stages] == ["pass", "skipped", "pass", "pass", "pass", "pass"], [
        stage.message for stage in report.stages
    ]
