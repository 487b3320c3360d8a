"""Landmark metrics against small cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ceph_doctor.metrics import landmark_metrics, point_errors

NAN = np.nan

# Two images x three landmarks. Image 0's truths span a 100 x 50 box (longer
# side 100, diagonal sqrt(12500)); image 1 shows only L0 and L1, spanning 200 x 0.
TRUE = np.array(
    [
        [[0.0, 0.0], [100.0, 0.0], [0.0, 50.0]],
        [[10.0, 10.0], [210.0, 10.0], [NAN, NAN]],
    ]
)
# Errors in px: image 0 → 5 (3-4-5), 6, 0; image 1 → 10 (6-8-10), 10, (L2 invisible).
PRED = np.array(
    [
        [[3.0, 4.0], [106.0, 0.0], [0.0, 50.0]],
        [[16.0, 18.0], [210.0, 20.0], [500.0, 500.0]],
    ]
)
# mm per px: errors in mm are image 0 → 2.5, 3.0, 0.0; image 1 → 2.0, 2.0.
SPACING = np.array([0.5, 0.2])
NAMES = ["Sella", "Nasion", "Orbitale"]


def test_point_errors_by_hand():
    errors = point_errors(PRED, TRUE)
    np.testing.assert_allclose(errors, [[5.0, 6.0, 0.0], [10.0, 10.0, NAN]])


def test_point_errors_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        point_errors(PRED[:, :2], TRUE)


def test_overall_metrics_by_hand():
    report = landmark_metrics(PRED, TRUE, spacing_mm=SPACING, names=NAMES)
    overall = report.overall
    # Pooled over the five visible points.
    assert overall["mre_mm"] == pytest.approx((2.5 + 3.0 + 0.0 + 2.0 + 2.0) / 5)  # 1.9
    deviations = np.array([2.5, 3.0, 0.0, 2.0, 2.0]) - 1.9
    assert overall["sd_mm"] == pytest.approx(math.sqrt((deviations**2).sum() / 4))  # N - 1
    # SDR counts error <= z: the two 2.0 mm errors succeed at 2 mm.
    assert overall["sdr_2mm"] == pytest.approx(100 * 3 / 5)
    assert overall["sdr_2.5mm"] == pytest.approx(100 * 4 / 5)
    assert overall["sdr_3mm"] == pytest.approx(100.0)
    assert overall["sdr_4mm"] == pytest.approx(100.0)
    assert overall["mre_px"] == pytest.approx((5 + 6 + 0 + 10 + 10) / 5)
    # PCK@0.05: thresholds 5 px (image 0) and 10 px (image 1), strict '<', so only
    # L2 on image 0 is correct. Per landmark 0 %, 0 %, 100 %; MMPose averages those.
    assert overall["pck@0.05"] == pytest.approx(100 / 3)
    # NME: each error over its image's box diagonal, pooled.
    diagonal_0 = math.sqrt(100**2 + 50**2)
    expected_nme = (5 / diagonal_0 + 6 / diagonal_0 + 0 + 10 / 200 + 10 / 200) / 5
    assert overall["nme"] == pytest.approx(expected_nme)


def test_per_landmark_rows_by_hand():
    table = landmark_metrics(PRED, TRUE, spacing_mm=SPACING, names=NAMES).per_landmark
    assert list(table.index) == NAMES
    np.testing.assert_allclose(table["mre_px"], [7.5, 8.0, 0.0])
    np.testing.assert_allclose(table["mre_mm"], [2.25, 2.5, 0.0])
    np.testing.assert_allclose(table["sd_mm"], [math.sqrt(0.125), math.sqrt(0.5), NAN])  # one point: no SD
    np.testing.assert_allclose(table["sdr_2mm"], [50.0, 50.0, 100.0])
    np.testing.assert_allclose(table["pck@0.05"], [0.0, 0.0, 100.0])
    diagonal_0 = math.sqrt(100**2 + 50**2)
    np.testing.assert_allclose(table["nme"], [(5 / diagonal_0 + 0.05) / 2, (6 / diagonal_0 + 0.05) / 2, 0.0])


def test_per_landmark_columns_match_overall_keys():
    report = landmark_metrics(PRED, TRUE, spacing_mm=SPACING, names=NAMES)
    assert list(report.per_landmark.columns) == list(report.overall)
    unnamed = landmark_metrics(PRED, TRUE)
    assert list(unnamed.per_landmark.index) == ["landmark_0", "landmark_1", "landmark_2"]


def test_pck_is_strict_at_the_threshold():
    true = np.array([[[0.0, 0.0], [100.0, 0.0]]])  # longer side 100: threshold 5 px at alpha 0.05
    at_threshold = np.array([[[5.0, 0.0], [100.0, 0.0]]])
    just_below = np.array([[[4.999, 0.0], [100.0, 0.0]]])
    assert landmark_metrics(at_threshold, true).per_landmark["pck@0.05"].tolist() == [0.0, 100.0]
    assert landmark_metrics(just_below, true).per_landmark["pck@0.05"].tolist() == [100.0, 100.0]


def test_sdr_counts_the_threshold_itself():
    true = np.array([[[0.0, 0.0], [100.0, 0.0]]])
    pred = np.array([[[20.0, 0.0], [120.0001, 0.0]]])  # 2.0 mm and just over at 0.1 mm/px
    report = landmark_metrics(pred, true, spacing_mm=np.array([0.1]))
    assert report.per_landmark["sdr_2mm"].tolist() == [100.0, 0.0]


def test_invisible_truth_is_masked_whatever_the_prediction():
    far_off = PRED.copy()
    far_off[1, 2] = [1e6, -1e6]  # prediction for the invisible L2 on image 1
    missing = PRED.copy()
    missing[1, 2] = NAN
    reference = landmark_metrics(PRED, TRUE, spacing_mm=SPACING).overall
    assert landmark_metrics(far_off, TRUE, spacing_mm=SPACING).overall == pytest.approx(reference)
    assert landmark_metrics(missing, TRUE, spacing_mm=SPACING).overall == pytest.approx(reference)


def test_non_finite_prediction_of_a_visible_point_is_a_miss():
    pred = PRED.copy()
    pred[0, 2] = NAN  # L2 on image 0 was exact; now the model produced NaN
    report = landmark_metrics(pred, TRUE, spacing_mm=SPACING)
    assert report.overall["mre_px"] == math.inf
    assert report.overall["sdr_2mm"] == pytest.approx(100 * 2 / 5)
    assert report.per_landmark.loc["landmark_2", "pck@0.05"] == 0.0


def test_mm_keys_only_when_every_image_has_a_spacing():
    mm_keys = {"mre_mm", "sd_mm", "sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm"}
    always = {"mre_px", "pck@0.05", "nme"}
    assert set(landmark_metrics(PRED, TRUE, spacing_mm=SPACING).overall) == mm_keys | always
    assert set(landmark_metrics(PRED, TRUE).overall) == always
    partial = landmark_metrics(PRED, TRUE, spacing_mm=np.array([0.1, NAN]))
    assert set(partial.overall) == always
    assert set(partial.per_landmark.columns) == always


def test_custom_thresholds_and_alpha_name_their_keys():
    report = landmark_metrics(PRED, TRUE, spacing_mm=SPACING, sdr_thresholds_mm=(1.0, 2.5), pck_alpha=0.1)
    assert list(report.overall) == ["mre_mm", "sd_mm", "sdr_1mm", "sdr_2.5mm", "mre_px", "pck@0.1", "nme"]
    # alpha 0.1: thresholds 10 px (errors 5, 6, 0) and 20 px (errors 10, 10): all correct.
    assert report.overall["pck@0.1"] == pytest.approx(100.0)


def test_no_visible_points_gives_nan_not_an_error():
    true = np.full((2, 3, 2), NAN)
    report = landmark_metrics(np.zeros((2, 3, 2)), true, spacing_mm=SPACING)
    assert all(math.isnan(value) for value in report.overall.values())
