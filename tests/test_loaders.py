"""Dataset loaders on tiny fixture datasets written in each public layout."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fixtures_layouts as fx
from ceph_doctor.data.aariz import load_aariz, parse_aariz_annotation
from ceph_doctor.data.aariz_landmarks import AARIZ_29
from ceph_doctor.data.folder import load_folder, parse_landmark_csv
from ceph_doctor.data.image_io import image_size, read_grayscale
from ceph_doctor.data.isbi2015 import load_isbi2015, parse_isbi_annotation
from ceph_doctor.data.landmarks import ISBI_2015, ISBI_SPACING_MM
from ceph_doctor.errors import DataError


def raises_at(path: Path, line: int | None = None):
    """pytest.raises for a DataError whose message starts with `path[:line]:`."""
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    return pytest.raises(DataError, match="^" + re.escape(where))


# image_io ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".bmp", ".png", ".jpg", ".tif"])
def test_read_grayscale_and_image_size_agree(tmp_path, suffix):
    path = fx.write_image(tmp_path / f"x{suffix}", width=64, height=80)
    image = read_grayscale(path)
    assert image.dtype == np.uint8 and image.shape == (80, 64)
    assert image_size(path) == (64, 80)


def test_read_grayscale_converts_colour(tmp_path):
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), np.zeros((80, 64, 3), np.uint8))
    assert read_grayscale(path).shape == (80, 64)


def test_corrupted_image_is_a_data_error(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with raises_at(path):
        read_grayscale(path)
    with raises_at(path):
        image_size(path)


def test_missing_and_empty_images_are_data_errors(tmp_path):
    with raises_at(tmp_path / "nope.png") as info:
        read_grayscale(tmp_path / "nope.png")
    assert "not found" in str(info.value)
    (tmp_path / "empty.bmp").write_bytes(b"")
    with raises_at(tmp_path / "empty.bmp", None) as info:
        read_grayscale(tmp_path / "empty.bmp")
    assert "empty" in str(info.value)
    with raises_at(tmp_path / "nope.jpg"):
        image_size(tmp_path / "nope.jpg")


# ISBI 2015 ---------------------------------------------------------------------------------------


def test_isbi_train_split_is_mean_of_two_doctors(tmp_path):
    truth = fx.write_isbi2015(tmp_path)
    result = load_isbi2015(tmp_path, "train")
    assert result.names == ISBI_2015 and result.source == "isbi2015"
    assert [r.image_id for r in result.records] == ["001", "002", "003"]
    for record in result.records:
        assert record.landmarks.dtype == np.float32 and record.landmarks.shape == (19, 2)
        np.testing.assert_allclose(record.landmarks, truth[record.image_id])
        assert record.spacing_mm == ISBI_SPACING_MM
        assert record.image is None
        assert record.image_path == tmp_path / "RawImage/TrainingData" / f"{record.image_id}.bmp"
    # the mean is unrounded: the junior doctor is offset by (1, 3)
    assert np.allclose(result.records[0].landmarks % 1, [0.5, 0.5])


@pytest.mark.parametrize("split", ["test1", "Test1Data", "TEST1"])
def test_isbi_split_names(tmp_path, split):
    fx.write_isbi2015(tmp_path)
    assert [r.image_id for r in load_isbi2015(tmp_path, split).records] == ["151"]


def test_isbi_one_doctor_folder_is_used_silently(tmp_path):
    truth = fx.write_isbi2015(tmp_path, doctors=("400_junior",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = load_isbi2015(tmp_path, "train")
    np.testing.assert_allclose(result.records[1].landmarks, truth["002"])


def test_isbi_without_annotationsbymd_level(tmp_path):
    fx.write_isbi2015(tmp_path)
    for doctor in fx.ISBI_DOCTORS:
        shutil.move(tmp_path / "AnnotationsByMD" / doctor, tmp_path / doctor)
    assert len(load_isbi2015(tmp_path, "train")) == 3


def test_isbi_unannotated_image_is_skipped_with_a_warning(tmp_path):
    fx.write_isbi2015(tmp_path)
    fx.write_image(tmp_path / "RawImage/TrainingData/004.bmp")
    with pytest.warns(UserWarning, match="1 image.*004"):
        result = load_isbi2015(tmp_path, "train")
    assert [r.image_id for r in result.records] == ["001", "002", "003"]


def test_isbi_missing_folders_name_what_was_expected(tmp_path):
    with raises_at(tmp_path / "absent"):
        load_isbi2015(tmp_path / "absent", "train")
    fx.write_isbi2015(tmp_path, splits={"train": ("001",)})
    with raises_at(tmp_path / "RawImage/Test2Data") as info:
        load_isbi2015(tmp_path, "test2")
    assert "test2" in str(info.value)
    with raises_at(tmp_path) as info:
        load_isbi2015(tmp_path, "val")
    assert "train" in str(info.value) and "test1" in str(info.value)
    shutil.rmtree(tmp_path / "AnnotationsByMD")
    with raises_at(tmp_path / "AnnotationsByMD/400_senior"):
        load_isbi2015(tmp_path, "train")


@pytest.mark.parametrize(
    ("line_number", "bad_line", "expected"),
    [
        (4, "10,20,30", "3 field"),
        (7, "12,abc", "not a number"),
        (1, "-3,20", "finite pixel coordinate"),
        (19, "nan,5", "finite pixel coordinate"),
        (10, "", "empty line"),
    ],
)
def test_isbi_malformed_line_names_file_and_line(tmp_path, line_number, bad_line, expected):
    fx.write_isbi2015(tmp_path, splits={"train": ("001",)})
    path = tmp_path / "AnnotationsByMD/400_junior/001.txt"
    lines = path.read_text().splitlines()
    lines[line_number - 1] = bad_line
    path.write_text("\n".join(lines) + "\n")
    with raises_at(path, line_number) as info:
        load_isbi2015(tmp_path, "train")
    assert expected in str(info.value)


def test_isbi_short_file_names_first_missing_line(tmp_path):
    fx.write_isbi2015(tmp_path, splits={"train": ("001",)})
    path = tmp_path / "AnnotationsByMD/400_senior/001.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:12]) + "\n")
    with raises_at(path, 13) as info:
        load_isbi2015(tmp_path, "train")
    assert "12 line" in str(info.value) and "19" in str(info.value)


def test_isbi_binary_annotation_is_a_data_error(tmp_path):
    fx.write_isbi2015(tmp_path, splits={"train": ("001",)})
    path = tmp_path / "AnnotationsByMD/400_senior/001.txt"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with raises_at(path):
        load_isbi2015(tmp_path, "train")


# Aariz -------------------------------------------------------------------------------------------


def test_aariz_mean_of_annotators_with_pixel_sizes(tmp_path):
    sizes = {"cks2ip8fq2a0t0": 0.12, "cks2ip8fq2a0j0": 0.1, "ckt9bmp": 0.14}
    truth = fx.write_aariz(tmp_path, pixel_sizes=sizes)
    result = load_aariz(tmp_path, "train")
    assert result.names == AARIZ_29 and len(AARIZ_29) == 29 and result.source == "aariz"
    assert [r.image_id for r in result.records] == sorted(sizes)
    for record in result.records:
        np.testing.assert_allclose(record.landmarks, truth[record.image_id])
        assert record.spacing_mm == pytest.approx(sizes[record.image_id])
        assert record.image_path.parent == tmp_path / "train/Cephalograms"
    assert {r.image_path.suffix for r in result.records} == {".png", ".jpg", ".bmp"}


def test_aariz_without_csv_is_in_pixels_and_split_case_is_free(tmp_path):
    fx.write_aariz(tmp_path, split="Valid")
    result = load_aariz(tmp_path, "valid")
    assert all(record.spacing_mm is None for record in result.records)
    assert len(load_aariz(tmp_path, "val")) == 3


def test_aariz_single_annotator_and_missing_point(tmp_path):
    truth = fx.write_aariz(tmp_path, images={"one": ".png"}, annotators=("Senior Orthodontists",))
    path = fx.aariz_landmark_dir(tmp_path, "train", "Senior Orthodontists") / "one.json"
    document = json.loads(path.read_text())
    del document["landmarks"][3]  # Menton
    path.write_text(json.dumps(document))
    with pytest.warns(UserWarning, match="one/Menton"):
        (record,) = load_aariz(tmp_path, "train").records
    assert np.isnan(record.landmarks[3]).all()
    np.testing.assert_allclose(record.landmarks[4:], truth["one"][4:])


def test_aariz_csv_problems(tmp_path):
    fx.write_aariz(tmp_path, pixel_sizes={"cks2ip8fq2a0t0": 0.1, "cks2ip8fq2a0j0": 0.1})
    csv_path = tmp_path / "cephalogram_machine_mappings.csv"
    with raises_at(csv_path) as info:
        load_aariz(tmp_path, "train")
    assert "ckt9bmp" in str(info.value)
    csv_path.write_text("cephalogram_id,machine,size\nckt9bmp,X,0.1\n")
    with raises_at(csv_path, 1) as info:
        load_aariz(tmp_path, "train")
    assert "pixel_size" in str(info.value)
    csv_path.write_text("cephalogram_id,pixel_size\ncks2ip8fq2a0t0,0.1\nckt9bmp,-1\n")
    with raises_at(csv_path, 3):
        load_aariz(tmp_path, "train")


@pytest.mark.parametrize(
    ("document", "line", "expected"),
    [
        ('{"ceph_id": "x"}', None, "no 'landmarks'"),
        ('{"landmarks": [\n  {"symbol": "A",\n   "value": {"x": 1 "y": 2}}]}', 3, "invalid JSON"),
        ('{"landmarks": [{"symbol": "A", "value": {"x": -1, "y": 2}}]}', None, "finite pixel coordinate"),
        ('{"landmarks": [{"symbol": "A", "value": {"x": "1", "y": 2}}]}', None, "must be a number"),
        ('{"landmarks": [{"symbol": "Zz", "title": "Nope", "value": {"x": 1, "y": 2}}]}', None, "unknown"),
        ('{"landmarks": [{"symbol": "A", "value": {"x": 1, "y": 2}}, {"title": "a-point", "value": {"x": 1, "y": 2}}]}',
         None, "twice"),
    ],
)
def test_aariz_malformed_json(tmp_path, document, line, expected):
    fx.write_aariz(tmp_path, images={"one": ".png"})
    path = fx.aariz_landmark_dir(tmp_path, "train", "Junior Orthodontists") / "one.json"
    path.write_text(document)
    with raises_at(path, line) as info:
        load_aariz(tmp_path, "train")
    assert expected in str(info.value)


def test_aariz_apostrophe_symbols_match(tmp_path):
    text = json.dumps({"landmarks": [{"symbol": "Pog'", "value": {"x": 5, "y": 6}}]})
    points = parse_aariz_annotation(text, tmp_path / "a.json")
    assert points[AARIZ_29.index("Soft Tissue Pogonion")].tolist() == [5, 6]


def test_aariz_orphan_annotation_and_unannotated_image(tmp_path):
    fx.write_aariz(tmp_path)
    fx.write_image(tmp_path / "train/Cephalograms/extra.png")
    with pytest.warns(UserWarning, match="extra"):
        assert len(load_aariz(tmp_path, "train")) == 3
    (tmp_path / "train/Cephalograms/ckt9bmp.bmp").unlink()
    with raises_at(fx.aariz_landmark_dir(tmp_path, "train", "Senior Orthodontists") / "ckt9bmp.json"):
        load_aariz(tmp_path, "train")


def test_aariz_missing_folders(tmp_path):
    fx.write_aariz(tmp_path)
    with raises_at(tmp_path / "test"):
        load_aariz(tmp_path, "test")
    shutil.rmtree(tmp_path / "train/Annotations/Cephalometric Landmarks")
    with raises_at(tmp_path / "train/Annotations/Cephalometric Landmarks"):
        load_aariz(tmp_path, "train")


# Generic folder ----------------------------------------------------------------------------------


def test_folder_csv_with_spacing_and_missing_landmark(tmp_path):
    truth = fx.write_folder(tmp_path)
    result = load_folder(tmp_path)
    assert result.names == fx.FOLDER_NAMES and result.source == "folder"
    assert [r.image_id for r in result.records] == ["a", "b", "c"]
    for record in result.records:
        np.testing.assert_allclose(record.landmarks, truth[record.image_id])
        assert record.spacing_mm == pytest.approx(0.1)
    assert np.isnan(result.records[2].landmarks[2]).all()
    assert result.records[2].image_path == tmp_path / "sub/c.bmp"


def test_folder_names_keep_first_appearance_order_and_paths_without_suffix(tmp_path):
    fx.write_image(tmp_path / "img/p.png")
    rows = [["Image", "Landmark", "X", "Y"], ["img/p", "Zeta", 1, 2], ["img/p", "Alpha", 3, 4]]
    fx.write_csv(tmp_path / "my.csv", rows)
    fx.write_csv(tmp_path / "other.csv", [["unrelated"]])
    with raises_at(tmp_path):
        load_folder(tmp_path)  # two CSVs: ambiguous
    result = load_folder(tmp_path, tmp_path / "my.csv")
    assert result.names == ("Zeta", "Alpha")
    assert result.records[0].spacing_mm is None and result.records[0].landmarks.tolist() == [[1, 2], [3, 4]]


def test_folder_unreferenced_image_warns(tmp_path):
    fx.write_folder(tmp_path)
    fx.write_image(tmp_path / "stray.png")
    with pytest.warns(UserWarning, match="stray.png"):
        assert len(load_folder(tmp_path)) == 3


@pytest.mark.parametrize(
    ("rows", "line", "expected"),
    [
        ([["image", "landmark", "x"], ["b.png", "S", 1]], 1, "missing column 'y'"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", 1, 2], ["b.png", "N", "abc", 2]], 3, "not a finite number"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", 1, -2]], 2, "negative"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", "inf", 2]], 2, "not a finite number"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", 1, 2], ["b.png", "S", 3, 4]], 3, "second row"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", 1, 2], ["b.png", "N", 1, 2, 9]], 3, "Expected 4 fields"),
        ([["image", "landmark", "x", "y"], ["gone.png", "S", 1, 2]], 2, "not found"),
        ([["image", "landmark", "x", "y", "spacing_mm"], ["b.png", "S", 1, 2, 0.1], ["b.png", "N", 1, 2, 0.2]],
         3, "different spacing_mm"),
        ([["image", "landmark", "x", "y", "spacing_mm"], ["b.png", "S", 1, 2, 0]], 2, "positive"),
        ([["image", "landmark", "x", "y"], ["b.png", "", 1, 2]], 2, "empty 'landmark'"),
        ([["image", "landmark", "x", "y"], ["b.png", "S", 1, 2], ["b", "N", 1, 2]], 3, "same id 'b'"),
    ],
)
def test_folder_malformed_csv(tmp_path, rows, line, expected):
    fx.write_image(tmp_path / "b.png")
    csv_path = fx.write_csv(tmp_path / "landmarks.csv", rows)
    with raises_at(csv_path, line) as info:
        load_folder(tmp_path)
    assert expected in str(info.value)


def test_folder_missing_root_or_csv(tmp_path):
    with raises_at(tmp_path / "absent"):
        load_folder(tmp_path / "absent")
    with raises_at(tmp_path):
        load_folder(tmp_path)
    with raises_at(tmp_path / "x.csv"):
        load_folder(tmp_path, tmp_path / "x.csv")


# Parsers never fail with anything but DataError ----------------------------------------------------

_fuzz = settings(max_examples=150, deadline=None)
_csv_text = st.text(alphabet=st.sampled_from(list('image,landmark,xy_spacing_mm0123456789.-e+nafi"\n\r\t \x00é')))
_point_line = st.one_of(
    st.tuples(st.integers(-5, 3000), st.integers(-5, 3000)).map(lambda xy: f"{xy[0]},{xy[1]}"),
    st.text(alphabet=st.sampled_from(list("0123456789,.-eE naifx\t")), max_size=12),
)
_isbi_text = st.lists(_point_line, min_size=15, max_size=24).map("\n".join)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["landmarks", "symbol", "title", "value", "x", "y"]), children, max_size=4),
    max_leaves=20,
)


@_fuzz
@given(text=st.one_of(st.text(max_size=200), _isbi_text))
def test_isbi_parser_only_raises_data_error(text):
    try:
        points = parse_isbi_annotation(text, Path("fuzz.txt"))
    except DataError as error:
        assert str(error).startswith("fuzz.txt")
    else:
        assert points.shape == (19, 2) and np.isfinite(points).all() and (points >= 0).all()


@_fuzz
@given(text=st.one_of(st.text(max_size=200), _csv_text, _csv_text.map("image,landmark,x,y,spacing_mm\n".__add__)))
def test_csv_parser_only_raises_data_error(text):
    try:
        table = parse_landmark_csv(text, Path("fuzz.csv"))
    except DataError as error:
        assert str(error).startswith("fuzz.csv")
    else:
        assert np.isfinite(table[["x", "y"]].to_numpy(float)).all()


@_fuzz
@given(text=st.one_of(st.text(max_size=200), _json_value.map(json.dumps), st.text().map('{"landmarks": ['.__add__)))
def test_aariz_parser_only_raises_data_error(text):
    try:
        points = parse_aariz_annotation(text, Path("fuzz.json"))
    except DataError as error:
        assert str(error).startswith("fuzz.json")
    else:
        assert points.shape == (29, 2)
