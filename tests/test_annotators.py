"""The annotators' own limit: the loaders keep every annotator's points, the run store records how far apart two
annotators of one image are per landmark, and `at-annotator-limit` names the landmarks already within it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_layouts import (
    AARIZ_ANNOTATORS,
    aariz_annotation,
    aariz_landmark_dir,
    isbi_annotation_text,
    write_aariz,
    write_image,
    write_isbi2015,
)

from ceph_doctor import load_run
from ceph_doctor.analyze import analyze_run
from ceph_doctor.config import load_config
from ceph_doctor.data.aariz import load_aariz, read_aariz_annotation
from ceph_doctor.data.isbi2015 import load_isbi2015, read_isbi_annotation
from ceph_doctor.data.landmarks import ISBI_SPACING_MM
from ceph_doctor.engine import load_rules
from ceph_doctor.landmark_errors import annotator_disagreement
from ceph_doctor.numbers import quantity
from ceph_doctor.report import render_markdown
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


def junior_offsets(count: int, step: int = 1) -> np.ndarray:
    """Landmark k's second annotator is (k mod 4, k div 4) × step pixels away from the first: a different
    distance for each landmark."""
    return np.array([[(k % 4) * step, (k // 4) * step] for k in range(count)], dtype=float)


def disagreement(records) -> np.ndarray:
    return annotator_disagreement([r.annotations for r in records], [r.spacing_mm for r in records])


def test_isbi_disagreement_per_landmark_is_the_doctors_mean_distance(tmp_path):
    write_isbi2015(tmp_path)
    offsets = junior_offsets(19)
    for senior in (tmp_path / "AnnotationsByMD" / "400_senior").glob("*.txt"):
        junior = tmp_path / "AnnotationsByMD" / "400_junior" / senior.name
        junior.write_text(isbi_annotation_text(read_isbi_annotation(senior) + offsets))
    train = load_isbi2015(tmp_path, "train")
    by_hand = np.hypot(offsets[:, 0], offsets[:, 1]) * ISBI_SPACING_MM  # the same on every image
    assert disagreement(train.records) == pytest.approx(by_hand)
    assert all(record.annotations.shape == (2, 19, 2) for record in train.records)
    assert np.allclose(train.records[0].landmarks, train.records[0].annotations.mean(axis=0))


def test_aariz_disagreement_weighs_each_image_by_its_own_pixel_size(tmp_path):
    pixel_sizes = {"cks2ip8fq2a0t0": 0.1, "cks2ip8fq2a0j0": 0.2, "ckt9bmp": 0.4}
    write_aariz(tmp_path, pixel_sizes=pixel_sizes)
    offsets = junior_offsets(29)
    senior_dir, junior_dir = (aariz_landmark_dir(tmp_path, "train", name) for name in AARIZ_ANNOTATORS)
    for senior in senior_dir.glob("*.json"):
        moved = read_aariz_annotation(senior) + offsets
        (junior_dir / senior.name).write_text(json.dumps(aariz_annotation(senior.stem, moved, reverse=True)))
    records = load_aariz(tmp_path, "train").records
    distance = np.hypot(offsets[:, 0], offsets[:, 1])
    by_hand = np.mean([distance * size for size in pixel_sizes.values()], axis=0)
    assert disagreement(records) == pytest.approx(by_hand)


def test_one_annotator_records_no_disagreement(tmp_path):
    write_isbi2015(tmp_path, doctors=("400_senior",))
    assert disagreement(load_isbi2015(tmp_path, "train").records) is None


ANATOMY = np.stack([np.random.default_rng(0).integers(90, 200, 19),
                    np.random.default_rng(1).integers(90, 300, 19)], axis=1).astype(float)


def write_wide_isbi(root, ids_by_split, offsets) -> None:
    """An ISBI layout of 360 x 450 px images whose two doctors differ by `offsets` per landmark."""
    folders = {"train": "TrainingData", "test1": "Test1Data"}
    for split, ids in ids_by_split.items():
        for image_id in ids:
            write_image(root / "RawImage" / folders[split] / f"{image_id}.bmp", seed=int(image_id), width=360,
                        height=450)
            senior = ANATOMY + np.random.default_rng(int(image_id)).integers(-8, 9, ANATOMY.shape)  # one "anatomy"
            for doctor, points in (("400_senior", senior), ("400_junior", senior + offsets)):
                path = root / "AnnotationsByMD" / doctor / f"{image_id}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(isbi_annotation_text(points))


def test_at_annotator_limit_names_exactly_the_landmarks_within_it(tmp_path):
    # 0 to 5 × 100 px apart (0 to 50 mm at 0.1 mm per px): from closer than a briefly trained model's error to far
    # beyond it (some junior points fall off the image; the truth, their mean with the senior's, stays near it).
    offsets = junior_offsets(19, step=100)
    write_wide_isbi(tmp_path / "isbi", {"train": ("001", "002", "003", "004"), "test1": ("151", "152")}, offsets)
    config = load_config(None, ["data.source=isbi2015", f"data.root={tmp_path / 'isbi'}",
                                "data.input_size=[64, 80]", "data.batch_size=2", "model.channels=8",
                                "train.max_epochs=2", "data.augment=false"])
    run_dir = tmp_path / "run"
    Trainer(config, run_dir, hooks=[Recorder(run_dir)]).fit()
    run = load_run(run_dir)
    limit = run.manifest["dataset"]["annotator_disagreement"]
    assert [limit[name] for name in run.manifest["landmarks"]] == pytest.approx(
        list(np.hypot(offsets[:, 0], offsets[:, 1]) * ISBI_SPACING_MM), abs=1e-3)
    last = run.predictions[(run.predictions["split"] == "val")
                           & (run.predictions["epoch"] == run.predictions["epoch"].max())]
    error = last.groupby("landmark")["error_mm"].mean()
    within = {name for name in run.manifest["landmarks"] if error[name] <= limit[name]}
    report = analyze_run(run, load_rules())
    fired = [d for d in report.diagnoses if d.id == "at-annotator-limit"]
    assert 0 < len(within) < 19  # the offsets put some landmarks' annotators closer than the model, some farther
    assert [d.severity for d in fired] == ["info"]
    assert set(fired[0].landmarks) == within
    # Reports put the model's error beside the annotators' distance, landmark by landmark.
    text = render_markdown([report], tmp_path / "report.md").read_text()
    assert "annotators apart" in text
    row = next(line for line in text.splitlines() if line.startswith("| Articulare |"))
    assert row.rstrip(" |").endswith(quantity(limit["Articulare"], "mm"))


def test_the_label_check_says_how_far_apart_the_annotators_put_each_suspect_point(tmp_path):
    """`labels RUN` beside each suspect: its annotators' own distance on that point, and their usual one for the
    landmark (a hand computation on two images of two annotators, 0.1 mm per pixel); the picture draws each mark."""
    from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
    from ceph_doctor.labels import LabelCheck, annotator_check, write_pictures
    from ceph_doctor.landmark_errors import SuspectLabels

    def image(name, b_first, b_second):
        marks = np.array([[[10.0, 10.0], b_first], [[10.0, 10.0], b_second]])  # A: both agree
        return LandmarkRecord(name, marks.mean(axis=0), 0.1, image=np.zeros((64, 64), np.uint8), annotations=marks)

    training = LandmarkSet(("A", "B"), [image("i0", [20.0, 20.0], [23.0, 24.0]),  # B 5 px apart: 0.5 mm
                                        image("i1", [30.0, 30.0], [30.0, 40.0])])  # B 10 px apart: 1.0 mm
    label, predicted = training.records[1].landmarks[1], np.array([40.0, 50.0])
    result = SuspectLabels([("i1", "B")], {}, 2, 2, {("i1", "B"): (label, predicted)})
    check = LabelCheck(tmp_path, [], result, training)
    found = annotator_check(check)
    assert found.unit == "mm" and found.apart == {("i1", "B"): pytest.approx(1.0)}
    assert found.usual == {"A": pytest.approx(0.0), "B": pytest.approx(0.75)}
    [picture] = write_pictures(check, tmp_path / "pictures")
    assert picture.name == "001-i1-B.png" and picture.stat().st_size > 0
    single = LabelCheck(tmp_path, [], result, LandmarkSet(("A", "B"), [
        LandmarkRecord(r.image_id, r.landmarks, 0.1, image=r.image) for r in training.records]))
    assert annotator_check(single) is None  # one annotation per image: nothing to cross-check
