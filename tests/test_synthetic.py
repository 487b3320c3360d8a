"""The synthetic cephalogram generator: determinism, realistic variation, landmarks on the drawn anatomy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ceph_doctor.data import synthetic_anatomy as anatomy
from ceph_doctor.data.landmarks import ISBI_2015
from ceph_doctor.data.synthetic import render_cephalogram, spacing_for_width, synthetic_split, write_samples
from ceph_doctor.data.synthetic_variation import find_landmarks

TINY = (64, 80)
SMALL = (128, 160)  # big enough to resolve a few-mm neighbourhood around a landmark, still ~2 ms an image
INDEX = {name: i for i, name in enumerate(ISBI_2015)}


@pytest.fixture(scope="module")
def tiny_batch():
    renders = [render_cephalogram(seed, *TINY) for seed in range(50)]
    return np.stack([image for image, _ in renders]), np.stack([points for _, points in renders])


@pytest.fixture(scope="module")
def small_batch():
    renders = [render_cephalogram(seed, *SMALL) for seed in range(30)]
    return np.stack([image for image, _ in renders]), np.stack([points for _, points in renders])


def test_spacing_is_isbi_at_native_width_and_scales_with_width():
    assert spacing_for_width(1935) == pytest.approx(0.1)
    assert spacing_for_width(256) == pytest.approx(0.1 * 1935 / 256)


@pytest.mark.parametrize("size", [TINY, (256, 320), (200, 200)])
def test_render_types_and_shapes(size):
    image, landmarks = render_cephalogram(3, *size)
    assert image.dtype == np.uint8 and image.shape == (size[1], size[0])
    assert landmarks.dtype == np.float32 and landmarks.shape == (len(ISBI_2015), 2)


def test_native_size_renders():
    image, landmarks = render_cephalogram(0, 1935, 2400)
    assert image.shape == (2400, 1935)
    assert np.all(landmarks >= 0) and np.all(landmarks < [1935, 2400])


def test_same_seed_gives_identical_bytes():
    first_image, first_points = render_cephalogram(42, *TINY)
    second_image, second_points = render_cephalogram(42, *TINY)
    assert first_image.tobytes() == second_image.tobytes()
    assert first_points.tobytes() == second_points.tobytes()


def test_different_seeds_give_different_images(tiny_batch):
    images, points = tiny_batch
    assert len({image.tobytes() for image in images}) == len(images)
    assert not np.allclose(points[0], points[1])


def test_landmark_variation_is_realistic(tiny_batch):
    _, points = tiny_batch
    spread = points.std(axis=0) / np.array(TINY)  # per landmark and axis, as a fraction of the image size
    assert np.all(spread > 0.01), "landmarks barely move between images"
    assert np.all(spread < 0.10), "landmarks move implausibly far between images"


def test_landmarks_inside_the_image(tiny_batch):
    _, points = tiny_batch
    assert np.all(points >= 0) and np.all(points <= np.array(TINY) - 1)


# (a, b, axis): landmark a has the smaller coordinate on that axis (x grows to the face, y downwards).
# Each pair is far enough apart in the mean skull that no pose or shape mode can swap it.
ANATOMICAL_ORDER = [
    ("Porion", "Sella", 0), ("Sella", "Nasion", 0), ("Articulare", "Posterior nasal spine", 0),
    ("Posterior nasal spine", "Anterior nasal spine", 0), ("Subspinale", "Subnasale", 0),
    ("Subnasale", "Upper lip", 0), ("Pogonion", "Soft-tissue pogonion", 0), ("Gonion", "Menton", 0),
    ("Lower incisal incision", "Lower lip", 0), ("Upper incisal incision", "Upper lip", 0),
    ("Nasion", "Orbitale", 1), ("Sella", "Articulare", 1), ("Articulare", "Gonion", 1),
    ("Anterior nasal spine", "Upper incisal incision", 1), ("Upper lip", "Lower lip", 1),
    ("Supramentale", "Pogonion", 1), ("Pogonion", "Menton", 1), ("Subnasale", "Upper lip", 1),
]


@pytest.mark.parametrize("first, second, axis", ANATOMICAL_ORDER)
def test_landmarks_keep_anatomical_order(tiny_batch, first, second, axis):
    _, points = tiny_batch
    assert np.all(points[:, INDEX[first], axis] < points[:, INDEX[second], axis])


def test_menton_is_the_lowest_bony_chin_point(tiny_batch):
    _, points = tiny_batch
    chin = [INDEX[name] for name in ("Supramentale", "Pogonion", "Gnathion")]
    assert np.all(points[:, INDEX["Menton"], 1][:, None] >= points[:, chin, 1])


def test_landmarks_scale_with_render_size():
    # Geometry lives in millimetres: a bigger render is the same skull, magnified.
    _, small = render_cephalogram(5, 128, 160)
    _, large = render_cephalogram(5, 512, 640)
    assert np.allclose(large / 4, small, atol=0.05)


def test_mean_skull_is_built_around_its_landmark_definitions():
    # Extreme-point rules (most anterior, lowest ...) must land on the anchors the mean skull was drawn
    # through; otherwise the drawing and the definitions disagree.
    found = dict(zip(ISBI_2015, find_landmarks(anatomy.MEAN_STRUCTURES)))
    anchors = {"Subspinale": anatomy.A_POINT, "Supramentale": anatomy.B_POINT, "Pogonion": anatomy.POGONION,
               "Menton": anatomy.MENTON, "Gnathion": anatomy.GNATHION, "Sella": anatomy.SELLA,
               "Nasion": anatomy.NASION, "Articulare": anatomy.ARTICULARE, "Subnasale": anatomy.SUBNASALE}
    for name, anchor in anchors.items():
        assert np.linalg.norm(found[name] - anchor) < 1.0, name


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.7)
    return np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))


def _window_mean(values: np.ndarray, x: float, y: float, radius: int = 2) -> float:
    col, row = int(round(x)), int(round(y))
    return float(values[max(0, row - radius) : row + radius + 1, max(0, col - radius) : col + radius + 1].mean())


def test_landmarks_sit_on_edges_of_the_drawn_anatomy(small_batch):
    """Edges around each true landmark are much stronger than around random points, and stronger than
    around the same landmark's position borrowed from another image (plausible, but not tied to pixels).
    Landmarks placed independently of the drawing fail both comparisons."""
    images, points = small_batch
    gradients = [_gradient_magnitude(image) for image in images]
    rng = np.random.default_rng(0)
    count, landmarks = points.shape[:2]
    own = np.array([[_window_mean(gradients[i], *points[i, k]) for k in range(landmarks)] for i in range(count)])
    borrowed = np.array([[_window_mean(gradients[i], *points[(i + 1) % count, k]) for k in range(landmarks)]
                         for i in range(count)])
    random_xy = rng.uniform([0, 0], SMALL, size=(count, landmarks, 2))
    anywhere = np.array([[_window_mean(gradients[i], *random_xy[i, k]) for k in range(landmarks)]
                         for i in range(count)])
    assert own.mean() > 2.0 * anywhere.mean()
    assert own.mean() > 1.3 * borrowed.mean()
    assert np.all(own.mean(axis=0) > 1.3 * anywhere.mean()), "some landmark is not on an edge"


# (landmark, unit vector into the denser tissue): bone inside the chin, soft tissue behind the lips.
DENSER_SIDE = [("Pogonion", (-1, 0)), ("Menton", (0, -1)), ("Supramentale", (-1, 0)), ("Gonion", (0.6, -0.8)),
               ("Upper lip", (-1, 0)), ("Lower lip", (-1, 0)), ("Soft-tissue pogonion", (-1, 0))]


@pytest.mark.parametrize("name, inward", DENSER_SIDE)
def test_landmark_is_on_the_boundary_of_its_structure(small_batch, name, inward):
    images, points = small_batch
    step = 4.0 / spacing_for_width(SMALL[0]) * np.array(inward)  # 4 mm in pixels
    landmark = points[:, INDEX[name]]
    inside = np.array([_window_mean(image, *(p + step), 1) for image, p in zip(images, landmark)])
    outside = np.array([_window_mean(image, *(p - step), 1) for image, p in zip(images, landmark)])
    assert np.mean(inside > outside) >= 0.9


def test_split_records_describe_the_images():
    landmark_set = synthetic_split(7, "train", 3, *TINY)
    assert landmark_set.names == ISBI_2015 and landmark_set.flip_pairs == () and landmark_set.source == "synthetic"
    assert [r.image_id for r in landmark_set.records] == [f"synthetic-train-{i:04d}" for i in range(3)]
    for record in landmark_set.records:
        assert record.image.shape == (TINY[1], TINY[0]) and record.image_path is None
        assert record.landmarks.shape == (19, 2) and record.spacing_mm == pytest.approx(spacing_for_width(TINY[0]))


def test_split_image_does_not_depend_on_count():
    few = synthetic_split(7, "train", 2, *TINY).records
    many = synthetic_split(7, "train", 5, *TINY).records
    for a, b in zip(few, many):
        assert a.image.tobytes() == b.image.tobytes() and np.array_equal(a.landmarks, b.landmarks)


def test_train_and_val_share_no_image():
    train = {r.image.tobytes() for r in synthetic_split(7, "train", 10, *TINY).records}
    val = {r.image.tobytes() for r in synthetic_split(7, "val", 10, *TINY).records}
    assert not train & val


def test_split_seed_changes_the_images():
    first = synthetic_split(1, "train", 1, *TINY).records[0].image
    second = synthetic_split(2, "train", 1, *TINY).records[0].image
    assert first.tobytes() != second.tobytes()


def test_write_samples_writes_readable_annotated_pngs(tmp_path):
    paths = write_samples(tmp_path / "samples", seed=0, count=2, width=TINY[0], height=TINY[1])
    assert len(paths) == 2
    for path in paths:
        assert path.suffix == ".png" and path.exists()
        picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[2] == 3
        channels = picture.astype(int)
        coloured = (np.abs(channels[..., 0] - channels[..., 1]) + np.abs(channels[..., 1] - channels[..., 2])) > 60
        assert coloured.sum() > 19 * 4, "landmark dots and numbers should be drawn in colour"
