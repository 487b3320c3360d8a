"""How each landmark is wrong (ceph_doctor.landmark_errors): the kinds on points placed by hand, and the label
check on scenarios whose labelling bugs are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ceph_doctor import load_run
from ceph_doctor.data.sources import read_splits
from ceph_doctor.landmark_errors import KINDS, classify, shape_model, summarise
from ceph_doctor.pipeline import with_wrong_labels
from ceph_doctor.scenarios import all_scenarios
from ceph_doctor.signals.base import MissingInput
from ceph_doctor.signals.landmark_kinds import implausible_shapes, training_label_check

# Three landmarks of one image at 1 mm per pixel: B 10 mm right of A, C 30 mm below A.
TRUTH = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 30.0]]])
NAMES = ["A", "B", "C"]


@pytest.mark.parametrize("where, kind", [((1.0, 0.0), "good"), ((3.0, 0.0), "jitter"), ((9.0, 0.0), "swap"),
                                         ((5.0, 0.0), "miss"), ((0.0, 15.0), "miss")])
def test_a_prediction_of_a_is_of_the_kind_its_distances_say(where, kind):
    pred = TRUTH.copy()
    pred[0, 0] = where
    classified = classify(pred, TRUTH, 1.0)
    assert KINDS[classified.kinds[0, 0]] == kind
    assert (classified.swapped_with[0, 0] == 1) == (kind == "swap")
    assert list(classified.kinds[0, 1:]) == [0, 0]  # B and C predicted on their truth: good


def test_what_fixing_each_kind_would_gain_is_counted_from_the_errors():
    pred = np.repeat(TRUTH, 4, axis=0)
    pred[0, 0] = (9.0, 0.0)  # swap: 9 mm
    pred[1, 0] = (3.0, 0.0)  # jitter: 3 mm
    pred[2, 2] = (0.0, 50.0)  # miss: 20 mm
    summary = summarise(classify(pred, np.repeat(TRUTH, 4, axis=0), 1.0), NAMES)
    assert summary.mre == pytest.approx((9 + 3 + 20) / 12)
    assert summary.mre_if_fixed == pytest.approx({"jitter": 29 / 12, "swap": 23 / 12, "miss": 12 / 12})
    assert summary.sdr == pytest.approx(9 / 12) and summary.sdr_if_fixed["swap"] == pytest.approx(10 / 12)
    assert summary.swaps == {("A", "B"): [0]}
    assert summary.shares[0].tolist() == pytest.approx([0.5, 0.25, 0.25, 0.0])


def test_a_run_without_spacing_is_judged_at_a_tenth_of_a_millimetre_per_pixel():
    pred = TRUTH * 10  # the same geometry in pixels at 0.1 mm per pixel
    moved = pred.copy()
    moved[0, 0] = (90.0, 0.0)
    assert KINDS[classify(moved, pred, None).kinds[0, 0]] == "swap"


SCENARIOS = {scenario.name: scenario for scenario in all_scenarios()}


def known_wrong(name: str) -> set[tuple[str, str]]:
    config = SCENARIOS[name].config("test")
    train, _ = read_splits(config)
    return with_wrong_labels(train, config)[1]


def swapped_images(wrong: set[tuple[str, str]]) -> set[str]:
    return {image for image, name in wrong if name == "Upper lip" and (image, "Lower lip") in wrong}


def test_swapped_labels_are_named_with_their_pair_and_images(scenario_run):
    check = training_label_check(load_run(scenario_run("wrong_labels")["wrong_labels"]))
    truly = swapped_images(known_wrong("wrong_labels"))
    assert list(check.swapped) == [("Upper lip", "Lower lip")]
    named = set(check.swapped[("Upper lip", "Lower lip")])
    assert named <= truly and len(named) >= 0.5 * len(truly)


def test_wrong_labels_are_found_and_few_right_ones_are_suspected(scenario_run):
    check = training_label_check(load_run(scenario_run("wrong_labels")["wrong_labels"]))
    wrong, found = known_wrong("wrong_labels"), set(check.pairs)
    assert len(found & wrong) >= 0.5 * len(wrong)  # most of the wrong labels
    assert len(found - wrong) <= 0.5 * len(found)  # and mostly wrong ones


def test_eight_training_images_are_too_few_to_suspect_a_label(scenario_run):
    run = load_run(scenario_run("healthy")["healthy"])  # the default data.train_subset: 8
    with pytest.raises(MissingInput, match="30 or more training images"):
        training_label_check(run)


def test_a_shape_model_of_annotations_scores_swapped_and_wandering_points_far_out():
    config = SCENARIOS["healthy"].config("test")
    train, val = read_splits(config)
    model = shape_model(np.stack([record.landmarks for record in train.records]))
    shapes = np.stack([record.landmarks for record in val.records])
    swapped, moved = shapes.copy(), shapes.copy()
    lips = [train.names.index("Upper lip"), train.names.index("Lower lip")]
    swapped[:, lips] = shapes[:, lips[::-1]]
    moved[:, 0] += 0.1 * config["data"]["synthetic"]["render_size"][0]  # Sella a tenth of the width away
    plain = model.unusual(shapes)
    assert model.unusual(swapped).min() > 10 * np.median(plain)
    assert model.unusual(moved).min() > 10 * np.median(plain)
    # Pose and size are no part of a shape: the same shapes moved, turned and scaled score the same.
    turn = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert model.unusual(2.5 * shapes @ turn.T + 40) == pytest.approx(plain, rel=1e-4)  # float32 points


def test_predicted_shapes_unlike_any_annotated_one_are_named(scenario_run):
    run = load_run(scenario_run("healthy")["healthy"])
    assert implausible_shapes(run)[0] == []  # the healthy model predicts plausible shapes
    frame = run.predictions
    last = (frame["split"] == "val") & (frame["epoch"] == frame["epoch"].max())
    chosen = last & frame["image_id"].isin(["synthetic-val-0003", "synthetic-val-0007"])
    upper, lower = chosen & (frame["landmark"] == "Upper lip"), chosen & (frame["landmark"] == "Lower lip")
    columns = ["pred_x", "pred_y"]
    swapped = frame.copy()
    swapped.loc[upper, columns] = frame.loc[lower, columns].to_numpy()
    swapped.loc[lower, columns] = frame.loc[upper, columns].to_numpy()
    run.predictions = swapped  # the same run, had its model swapped the lips on two images
    run.memo.clear()
    assert implausible_shapes(run)[0] == ["synthetic-val-0003", "synthetic-val-0007"]


def test_the_labels_check_reads_every_training_image_with_the_runs_checkpoints(scenario_run, tmp_path):
    from ceph_doctor.labels import check_labels

    run_dir = scenario_run("wrong_labels")["wrong_labels"]
    check = check_labels(run_dir, count=2)
    assert [path.name for path in check.checkpoints] == ["epoch_0009.pth", "epoch_0010.pth"]
    assert check.result.images == SCENARIOS["wrong_labels"].config("test")["data"]["synthetic"]["train_images"]
    truly = swapped_images(known_wrong("wrong_labels"))
    [(pair, images)] = check.result.swapped.items()
    assert pair == ("Upper lip", "Lower lip") and set(images) <= truly and len(images) >= 0.5 * len(truly)
    each_suspect_label_gets_a_picture_of_its_label_and_the_models_point(check, tmp_path)


def each_suspect_label_gets_a_picture_of_its_label_and_the_models_point(check, tmp_path):
    """`labels RUN --pictures DIR`: one picture per suspect, swapped pairs first and each pair together; a swapped
    label is drawn where the clean data has its partner, and the model's point where the clean data has the
    landmark itself."""
    import dataclasses

    import cv2

    from ceph_doctor.labels import write_pictures
    from ceph_doctor.report.galleries import suspect_pictures

    records = {record.image_id: record for record in check.training.records}
    names = list(check.training.names)
    pictures = suspect_pictures(check.result, lambda image: records[image].landmarks, names)
    swapped = [picture for picture in pictures if picture.swapped_with]
    assert swapped and pictures[:len(swapped)] == swapped and len(pictures) == len(check.result.pairs)
    assert {pictures[0].landmark, pictures[1].landmark} == {"Upper lip", "Lower lip"}
    assert pictures[0].image_id == pictures[1].image_id
    clean_train, _ = read_splits(SCENARIOS["wrong_labels"].config("test"))  # before the faults change labels
    clean = {record.image_id: record.landmarks for record in clean_train.records}
    for picture in swapped:
        own, partner = clean[picture.image_id][[names.index(picture.landmark), names.index(picture.swapped_with)]]
        assert np.linalg.norm(picture.label - partner) < 1e-3
        assert np.linalg.norm(picture.predicted - own) < np.linalg.norm(picture.label - own)
    # Drawn for four of them (a picture costs a tenth of a second): a file each, in the order above.
    four = [(picture.image_id, picture.landmark) for picture in pictures[:2] + pictures[-2:]]
    few = dataclasses.replace(check, result=dataclasses.replace(check.result, pairs=four))
    written = write_pictures(few, tmp_path / "pictures")
    assert [path.name[:4] for path in written] == ["001-", "002-", "003-", "004-"]
    assert pictures[0].image_id in written[0].name and pictures[-1].image_id in written[-1].name
    assert all(cv2.imread(str(path)) is not None for path in written)


def test_the_labels_command_refuses_a_folder_that_is_no_run_in_one_line(tmp_path):
    from cli_helpers import assert_one_line_error, ceph_doctor

    assert_one_line_error(ceph_doctor("labels", str(tmp_path)), str(tmp_path), "not a ceph-doctor run")


def test_the_labels_command_prints_json_a_script_can_read(scenario_run, capsys):
    import json

    from ceph_doctor.cli.labels_command import labels_command

    labels_command(scenario_run("wrong_labels")["wrong_labels"], "json", 1)
    found = json.loads(capsys.readouterr().out)
    assert [Path(path).name for path in found["checkpoints"]] == ["epoch_0010.pth"]
    assert {"image", "landmark"} == set(found["suspects"][0]) and found["images"] == 96


def test_error_kinds_are_kept_for_every_validation_and_a_learning_model_turns_misses_into_good(scenario_run):
    from ceph_doctor.signals.landmark_kinds import error_kinds_by_validation, val_error_kinds

    run = load_run(scenario_run("healthy")["healthy"])
    history = error_kinds_by_validation(run)
    epochs = sorted(int(epoch) for epoch in run.predictions.loc[run.predictions["split"] == "val", "epoch"].unique())
    assert [epoch for epoch, _ in history] == epochs
    first, last = history[0][1], history[-1][1]
    good, miss = KINDS.index("good"), KINDS.index("miss")
    assert last.shares[:, good].mean() > first.shares[:, good].mean()
    assert last.shares[:, miss].mean() < first.shares[:, miss].mean()
    assert np.array_equal(last.shares, val_error_kinds(run)[1].shares), "the last is the report's table"


def test_the_gallery_of_worst_images_leads_with_the_images_the_model_got_most_wrong(scenario_run):
    from ceph_doctor.report.galleries import worst_image_errors
    from ceph_doctor.report.run_view import RunView

    run = load_run(scenario_run("healthy")["healthy"])
    frame = run.predictions.copy()
    last = (frame["split"] == "val") & (frame["epoch"] == frame["epoch"].max())
    for image, shift in (("synthetic-val-0005", 300.0), ("synthetic-val-0011", 200.0)):  # flung far off
        rows = last & (frame["image_id"] == image)
        frame.loc[rows, "pred_x"] += shift
        frame.loc[rows, [column for column in ("error", "error_px", "error_mm") if column in frame]] += shift
    run.predictions = frame
    view = RunView(run)
    worst = worst_image_errors(view.at_epoch(view.last_epoch))
    assert list(worst.index[:2]) == ["synthetic-val-0005", "synthetic-val-0011"] and len(worst) == 6


def test_the_report_draws_the_suspect_labels_where_label_noise_has_them(scenario_run):
    from ceph_doctor.report.galleries import suspect_labels
    from ceph_doctor.report.run_view import RunView

    runs = scenario_run("wrong_labels", "healthy")
    assert suspect_labels(RunView(load_run(runs["wrong_labels"]))).startswith(b"\x89PNG")
    assert suspect_labels(RunView(load_run(runs["healthy"]))) is None  # 8 training images: nothing to suspect


def test_names_from_other_peoples_files_are_drawn_as_text_not_as_mathtext(scenario_run):
    """A "$" in an image id or a landmark name (matplotlib reads "$...$" as a formula, and a bad one raises)."""
    from ceph_doctor.report.figures import error_heatmap, landmark_errors
    from ceph_doctor.report.galleries import worst_images
    from ceph_doctor.report.kinds import error_kind_bars, error_kinds_over_training
    from ceph_doctor.report.points import mean_shape, sample_overlay
    from ceph_doctor.report.run_view import RunView

    run = load_run(scenario_run("healthy")["healthy"])
    frame = run.predictions.copy()
    frame["image_id"] = frame["image_id"].astype(str) + r"$\frac{$"
    frame["landmark"] = frame["landmark"].astype(str) + r" $x_^$"
    run.predictions = frame
    run.manifest = {**run.manifest, "landmarks": [name + r" $x_^$" for name in run.landmarks]}
    for draw in (error_kind_bars, error_kinds_over_training, worst_images, error_heatmap, landmark_errors, mean_shape,
                 sample_overlay):
        assert draw(RunView(run)).startswith(b"\x89PNG")
