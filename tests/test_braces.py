"""Synthetic braces: found from the incisor landmarks of every layout, drawn on the teeth, moved with them."""

from __future__ import annotations

import numpy as np
import pytest

from ceph_doctor.data.aariz_landmarks import AARIZ_29, AARIZ_29_SYMBOLS
from ceph_doctor.data.augment import AugmentSettings, augment
from ceph_doctor.data.braces import IncisorTips, draw_braces
from ceph_doctor.data.landmarks import CL_DETECTION_2023, ISBI_2015
from ceph_doctor.data.synthetic import synthetic_split
from ceph_doctor.errors import ConfigError

STILL = dict(rotate_deg=0.0, scale=0.0, translate=0.0, brightness=0.0, contrast=0.0)


def spread_of(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def principal_angle(mask: np.ndarray) -> float:
    """Degrees of the long axis of the set pixels, in [-90, 90)."""
    ys, xs = np.nonzero(mask)
    coordinates = np.stack([xs, ys], axis=1).astype(float)
    _, vectors = np.linalg.eigh(np.cov(coordinates.T))
    x, y = vectors[:, -1]
    return (np.degrees(np.arctan2(y, x)) + 90.0) % 180.0 - 90.0


@pytest.mark.parametrize("names, upper, lower", [
    (ISBI_2015, "Upper incisal incision", "Lower incisal incision"),
    (CL_DETECTION_2023, "Upper incisal incision", "Lower incisal incision"),  # not its incisor apices
    (AARIZ_29, "Upper Incisor Tip", "Lower Incisor Tip"),
    (AARIZ_29_SYMBOLS, "UIT", "LIT"),
    (("nose", "maxillary central incisor edge", "chin"), "maxillary central incisor edge", None),
])
def test_the_incisal_edges_are_found_by_their_words(names, upper, lower):
    tips = IncisorTips.among(tuple(names))
    assert tips.upper == names.index(upper)
    assert tips.lower == (names.index(lower) if lower else None)


def test_data_without_incisors_is_refused_in_one_line_when_braces_are_asked_for(tiny_config, tmp_path):
    from ceph_doctor.codec import PointCodec
    from ceph_doctor.data.dataset import LandmarkDataset, PreparedSet

    prepared = PreparedSet(("thumb", "index", "wrist"), (), ["a"], np.zeros((1, 8, 8), np.uint8),
                           np.zeros((1, 3, 2), np.float32), np.ones((1, 2), np.float32),
                           np.full(1, np.nan, np.float32), np.full((1, 2), 8))
    with pytest.raises(ConfigError, match="augment.braces.*no incisal edge"):
        LandmarkDataset(prepared, PointCodec((8, 8)), AugmentSettings(braces=0.5))
    LandmarkDataset(prepared, PointCodec((8, 8)), AugmentSettings(braces=0.0))  # off: nothing to place


def test_braces_are_bright_metal_on_the_teeth_behind_the_incisors():
    record = synthetic_split(0, "train", 1, 256, 320).records[0]
    tips = IncisorTips.among(ISBI_2015)
    braced = draw_braces(record.image, record.landmarks, tips, np.random.default_rng(0))
    changed = braced != record.image
    assert (braced >= record.image).all()  # metal only ever adds brightness
    spread = spread_of(record.landmarks)
    edges = record.landmarks[[tips.upper, tips.lower]]
    ys, xs = np.nonzero(changed)
    assert len(xs) > 0.01 * spread ** 2  # a visible row of brackets, not a speck
    distance = np.hypot(xs - edges[:, 0].mean(), ys - edges[:, 1].mean())
    assert distance.max() < 1.0 * spread  # on the teeth, not elsewhere in the skull
    face_side = np.sign(edges[:, 0].mean() - record.landmarks[:, 0].mean())
    assert np.mean(np.sign(edges[:, 0].mean() - xs) == face_side) > 0.8  # from the incisors back
    assert abs(principal_angle(changed)) < 15  # along the occlusal plane, not across it


def orientation(points: np.ndarray) -> float:
    """The sign of Sella → Nasion → Menton's turn: a mirror image reverses it, a rotation does not."""
    sella, nasion, menton = (points[ISBI_2015.index(name)] for name in ("Sella", "Nasion", "Menton"))
    first, second = nasion - sella, menton - nasion
    return float(np.sign(first[0] * second[1] - first[1] * second[0]))


def test_braces_turn_and_flip_with_the_image():
    """Drawn before the warp: on a black picture only the metal shows, and its axis turns as the skull does."""
    record = synthetic_split(1, "train", 1, 128, 160).records[0]
    black = np.zeros_like(record.image)
    tips = IncisorTips.among(ISBI_2015)
    sella, nasion = ISBI_2015.index("Sella"), ISBI_2015.index("Nasion")
    turned, mirrored = 0, 0
    for seed in range(8):
        settings = AugmentSettings(**{**STILL, "rotate_deg": 40.0}, flip=True, braces=1.0)
        image, points = augment(black, record.landmarks, np.random.default_rng(seed), settings, (), tips)
        same = np.random.default_rng(seed)
        assert same.random() < 1.0  # the coin for braces=1.0; then the same braces, drawn upright
        upright = draw_braces(black, record.landmarks, tips, same) > 0
        flipped = orientation(points) != orientation(record.landmarks)
        before, after = (record.landmarks[nasion] - record.landmarks[sella]), (points[nasion] - points[sella])
        start, end = np.degrees(np.arctan2(before[1], before[0])), np.degrees(np.arctan2(after[1], after[0]))
        # Turned by r, then mirrored (x → -x) when flipped: an axis at a ends at a + r, or at -(a + r).
        rotation = (180.0 - end - start if flipped else end - start + 180.0) % 360.0 - 180.0
        sign = -1 if flipped else 1
        expected = (sign * (principal_angle(upright) + rotation) + 90.0) % 180.0 - 90.0
        difference = (principal_angle(image > 0) - expected + 90.0) % 180.0 - 90.0
        assert abs(difference) < 3.0, (seed, rotation, flipped, difference)
        edges = points[[tips.upper, tips.lower]].mean(axis=0)
        ys, xs = np.nonzero(image > 0)
        assert np.hypot(xs.mean() - edges[0], ys.mean() - edges[1]) < 0.6 * spread_of(points)
        turned += abs(rotation) > 10
        mirrored += flipped
    assert turned >= 2 and 0 < mirrored < 8  # the check saw real turns and both sides


def test_without_braces_augmentation_draws_what_it_drew_before():
    """A run that does not ask for braces augments exactly as runs before them did (same random stream)."""
    record = synthetic_split(0, "train", 1, 64, 80).records[0]
    tips = IncisorTips.among(ISBI_2015)
    plain = augment(record.image, record.landmarks, np.random.default_rng(3), AugmentSettings())
    offered = augment(record.image, record.landmarks, np.random.default_rng(3), AugmentSettings(braces=0.0), (), tips)
    assert np.array_equal(plain[0], offered[0]) and np.array_equal(plain[1], offered[1])


def test_training_with_braces_runs(tiny_config, tmp_path):
    from ceph_doctor.train.loop import Trainer

    Trainer(tiny_config("augment.braces=0.5", "train.max_epochs=1"), tmp_path / "run").fit()
