"""Built-in synthetic lateral cephalograms with the 19 ISBI 2015 landmarks.

A seeded generator: the mean skull of synthetic_anatomy is varied per image (synthetic_variation),
drawn with OpenCV into X-ray-like layers (soft tissue, skull, mandible, teeth) that add up the way
attenuation does, then blurred, contrast-shifted and made noisy. Landmarks are found on the very
control points that are drawn, so every landmark is visible in the pixels. Images look like ISBI ones
(patient facing right) at 0.1 mm per pixel at 1935 x 2400, scaled with the render width. Each image
also has a cervical vertebral maturation stage (label `cvm_stage`, 1-6), drawn in the shape of C3-C5.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from ceph_doctor.data.landmarks import ISBI_2015, ISBI_NATIVE_SIZE, ISBI_SPACING_MM
from ceph_doctor.data.records import LandmarkRecord, LandmarkSet
from ceph_doctor.data.synthetic_anatomy import Structure
from ceph_doctor.data.synthetic_geometry import sample_spline
from ceph_doctor.data.synthetic_variation import cvm_stage, sample_skull
from ceph_doctor.data.visualize import draw_landmarks

_FRAME_MM = (ISBI_NATIVE_SIZE[0] * ISBI_SPACING_MM, ISBI_NATIVE_SIZE[1] * ISBI_SPACING_MM)
_SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 px precision keeps small renders' landmarks exact

# Drawing order per layer: (layer, structure, "fill" | "line", density 0..1, line width mm).
# A later fill replaces an earlier one inside its layer (a sinus is air inside bone); layers add up.
_DRAWING = (
    ("soft", "head", "fill", 1.0, 0),
    ("soft", "airway", "fill", 0.45, 0),
    ("skull", "vault", "fill", 0.5, 0),
    ("skull", "frontal_sinus", "fill", 0.15, 0),
    ("skull", "vault_outer", "line", 0.95, 1.6),
    ("skull", "vault_inner", "line", 0.85, 1.2),
    ("skull", "petrous", "fill", 0.55, 0),
    ("skull", "mastoid", "fill", 0.35, 0),
    ("skull", "sphenoid", "fill", 0.4, 0),
    ("skull", "sphenoid_sinus", "fill", 0.12, 0),
    ("skull", "basiocciput", "fill", 0.55, 0),
    ("skull", "basiocciput", "line", 0.8, 0.9),
    ("skull", "sella_fossa", "fill", 0.1, 0),
    ("skull", "sella_cup", "line", 0.95, 1.5),
    ("skull", "anterior_cranial_base", "line", 0.85, 1.6),
    ("skull", "orbital_roof", "line", 0.55, 1.0),
    ("skull", "maxilla", "fill", 0.22, 0),
    ("skull", "maxillary_sinus", "fill", 0.12, 0),
    ("skull", "maxilla_front", "line", 0.8, 1.2),
    ("skull", "pterygomaxillary_fissure", "fill", 0.08, 0),
    ("skull", "pterygomaxillary_fissure", "line", 0.6, 0.8),
    ("skull", "orbit", "line", 0.55, 1.0),
    ("skull", "palate", "fill", 0.75, 0),
    ("skull", "palate", "line", 0.9, 0.6),
    ("skull", "nasal_bone", "line", 0.85, 2.0),
    ("skull", "axis_c2", "fill", 0.45, 0),
    ("skull", "axis_c2", "line", 0.75, 1.0),
    ("skull", "c3", "fill", 0.45, 0),
    ("skull", "c3", "line", 0.75, 1.0),
    ("skull", "c4", "fill", 0.45, 0),
    ("skull", "c4", "line", 0.75, 1.0),
    ("skull", "c5", "fill", 0.45, 0),
    ("skull", "c5", "line", 0.75, 1.0),
    ("skull", "hyoid", "fill", 0.6, 0),
    ("skull", "meatus", "fill", 0.0, 0),
    ("skull", "meatus", "line", 0.8, 1.0),
    ("mandible", "mandible", "fill", 0.45, 0),
    ("mandible", "mandible", "line", 0.95, 1.8),
    ("mandible", "symphysis_lingual", "line", 0.8, 1.4),
    *(("teeth", f"{jaw}_root_{i}", "fill", 0.55, 0) for jaw in ("upper", "lower") for i in range(4)),
    *(("teeth", f"{jaw}_crown_{i}", "fill", 0.9, 0) for jaw in ("upper", "lower") for i in range(4)),
    # The incisors overlap each other (overbite) and the canines: a layer each, so they add up.
    ("upper_incisor", "upper_incisor", "fill", 0.85, 0),
    ("upper_incisor", "upper_incisor", "line", 1.0, 0.5),
    ("lower_incisor", "lower_incisor", "fill", 0.85, 0),
    ("lower_incisor", "lower_incisor", "line", 1.0, 0.5),
)
_LAYERS = ("soft", "skull", "mandible", "teeth", "upper_incisor", "lower_incisor")


def spacing_for_width(width: int) -> float:
    """mm per pixel of a synthetic image `width` px wide (0.1 mm at the native 1935 px)."""
    return ISBI_SPACING_MM * ISBI_NATIVE_SIZE[0] / width


def render_cephalogram(seed: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic cephalogram: uint8 (height, width) image and float32 (19, 2) landmarks x, y in px."""
    rng = np.random.default_rng(seed)
    skull = sample_skull(rng, skeletal_maturity(seed))
    to_pixels = _head_to_pixels(skull.pose, width, height)
    landmarks = skull.landmarks @ to_pixels[:, :2].T + to_pixels[:, 2]
    # Keep every landmark inside the image with a small margin, as a radiographer centres the head.
    low = 0.03 * np.array([width, height])
    high = np.array([width, height]) - 1 - low
    shift = np.clip(low - landmarks.min(0), 0, None)  # beyond the left / top edge: move right / down
    shift -= np.clip(landmarks.max(0) + shift - high, 0, None)  # then beyond the right / bottom: move back
    to_pixels[:, 2] += shift
    layers = _draw_layers(skull.structures, to_pixels, width, height)
    image = _expose(layers, rng, width)
    return image, (landmarks + shift).astype(np.float32)


def skeletal_maturity(seed: int) -> float:
    """The image's skeletal maturity in [0, 1], drawn apart from the rest so that the skull and the
    pose of an image are the same whatever the maturity stream holds."""
    return float(np.random.default_rng([seed, 1]).uniform())


def _head_to_pixels(pose: np.ndarray, width: int, height: int) -> np.ndarray:
    """Affine (2, 3) from head-frame mm to pixels: pose, then mm -> px centred vertically."""
    px_per_mm = 1.0 / spacing_for_width(width)
    frame = np.array([[px_per_mm, 0, 0], [0, px_per_mm, (height - _FRAME_MM[1] * px_per_mm) / 2]])
    return frame[:, :2] @ pose + np.hstack([np.zeros((2, 2)), frame[:, 2:]])


def _draw_layers(structures: dict[str, Structure], to_pixels: np.ndarray, width: int,
                 height: int) -> dict[str, np.ndarray]:
    layers = {name: np.zeros((height, width), np.uint8) for name in _LAYERS}
    px_per_mm = np.sqrt(abs(np.linalg.det(to_pixels[:, :2])))
    # Chords of a few px: smooth at any size, and few vertices (cheap) when the render is small.
    samples = int(np.clip(round(px_per_mm * 1.5), 2, 16))
    polygons = {}
    for layer, name, style, density, width_mm in _DRAWING:
        if name not in polygons:
            points, closed = structures[name]
            curve = sample_spline(points @ to_pixels[:, :2].T + to_pixels[:, 2], closed, samples)
            polygons[name] = (np.round(curve * (1 << _SUBPIXEL_BITS)).astype(np.int32), closed)
        polygon, closed = polygons[name]
        value = int(round(255 * density))
        if style == "fill":
            cv2.fillPoly(layers[layer], [polygon], value, cv2.LINE_AA, _SUBPIXEL_BITS)
        else:
            thickness = max(1, int(round(width_mm * px_per_mm)))
            cv2.polylines(layers[layer], [polygon], closed, value, thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
    return layers


def _expose(layers: dict[str, np.ndarray], rng: np.random.Generator, width: int) -> np.ndarray:
    """Add the layers like attenuation, then the imaging chain: blur, uneven exposure, tone curve, noise."""
    height = layers["soft"].shape[0]
    mm = 1.0 / spacing_for_width(width)  # pixels per mm
    image = np.full((height, width), rng.uniform(0.0, 0.05), np.float32)
    # Soft tissue is thin at the silhouette and thick in the middle of the head: mix in a wide blur of it.
    soft = layers["soft"].astype(np.float32)
    soft = 0.65 * soft + 0.35 * _wide_blur(soft, 6.0 * mm)
    image += soft * np.float32(rng.uniform(0.22, 0.32) / 255.0)
    bone = layers["skull"].astype(np.float32) * np.float32(rng.uniform(0.4, 0.55) / 255.0)
    bone += layers["mandible"].astype(np.float32) * np.float32(rng.uniform(0.4, 0.55) / 255.0)
    # Trabecular mottle and the two sides of the skull not quite overlapping: bone density is uneven.
    bone *= 1.0 + _smooth_noise(rng, width, height, 4.0 * mm, rng.uniform(0.05, 0.15))
    image += bone
    teeth = np.float32(rng.uniform(0.3, 0.45) / 255.0)
    for name in ("teeth", "upper_incisor", "lower_incisor"):
        image += layers[name].astype(np.float32) * teeth
    image += _smooth_noise(rng, width, height, width / 3.0, rng.uniform(0.0, 0.04))  # uneven exposure
    blur_px = rng.uniform(0.25, 0.8) * mm
    if blur_px > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), blur_px)
    image = np.clip(image * np.float32(rng.uniform(0.9, 1.25)), 0.0, 1.0) ** np.float32(rng.uniform(0.7, 1.2))
    image += rng.standard_normal((height, width), np.float32) * np.float32(rng.uniform(0.008, 0.035))
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cell_px: float, amplitude: float) -> np.ndarray:
    """Random field varying over about `cell_px` pixels: a small grid of normals, blown up smoothly."""
    grid = rng.standard_normal((max(2, round(height / cell_px)), max(2, round(width / cell_px))), np.float32)
    return cv2.resize(grid * np.float32(amplitude), (width, height), interpolation=cv2.INTER_CUBIC)


def _wide_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    # Blurring a shrunken copy costs the same at any sigma; the result is smooth anyway.
    factor = max(1, int(sigma_px / 2))
    small = cv2.resize(image, (max(1, image.shape[1] // factor), max(1, image.shape[0] // factor)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)


def _image_seed(seed: int, split: str, index: int) -> int:
    # crc32, not hash(): Python salts str hashes per process, and splits must be the same every run.
    sequence = np.random.SeedSequence([seed, zlib.crc32(split.encode()), index])
    return int(sequence.generate_state(1, np.uint64)[0])


# How consistently annotators mark each point, relative to `annotator_spread_mm`: a point on a sharp edge or
# corner (Sella's floor, the incisal tips, Menton) is found again within less than a point on a curve or a faint
# outline (Gonion on the mandible's angle, Porion and Orbitale, Articulare where two outlines cross).
ANNOTATOR_PROFILE = {
    "Sella": 0.5, "Nasion": 0.7, "Menton": 0.6, "Upper incisal incision": 0.5, "Lower incisal incision": 0.5,
    "Gonion": 2.0, "Porion": 1.8, "Orbitale": 1.8, "Articulare": 1.6, "Soft-tissue pogonion": 1.5,
    "Posterior nasal spine": 1.5,
}


def synthetic_image(seed: int, split: str, index: int, width: int, height: int) -> np.ndarray:
    """Image `index` of a synthetic split alone, the same pixels `synthetic_split` gives it: what a report draws
    the points on."""
    return render_cephalogram(_image_seed(seed, split, index), width, height)[0]


def synthetic_split(seed: int, split: str, count: int, width: int, height: int, annotators: int = 1,
                    annotator_spread_mm: float = 1.5) -> LandmarkSet:
    """`count` synthetic images; image i depends only on (seed, split, i), never on `count`.

    With `annotators` > 1, each simulated annotator marks every point off the anatomy by an isotropic Gaussian
    whose mean distance between two annotators is `annotator_spread_mm` times the point's `ANNOTATOR_PROFILE`;
    the truth is their mean, as in ISBI 2015 and Aariz."""
    spacing = spacing_for_width(width)
    # Two annotators' independent offsets of sigma per coordinate lie sigma * sqrt(pi) apart on average.
    sigma_px = np.array([ANNOTATOR_PROFILE.get(name, 1.0) for name in ISBI_2015]) * annotator_spread_mm / (
        np.sqrt(np.pi) * spacing)
    records = []
    for index in range(count):
        image_seed = _image_seed(seed, split, index)
        image, landmarks = render_cephalogram(image_seed, width, height)
        labels = {"cvm_stage": float(cvm_stage(skeletal_maturity(image_seed)))}  # drawn in C3-C5
        annotations = None
        if annotators > 1:
            marking = np.random.default_rng((image_seed, 31337))
            annotations = (landmarks[None] + marking.standard_normal((annotators, *landmarks.shape))
                           * sigma_px[None, :, None]).astype(np.float32)
            landmarks = annotations.mean(axis=0)
        records.append(LandmarkRecord(f"synthetic-{split}-{index:04d}", landmarks, spacing, image=image, labels=labels,
                                      annotations=annotations))
    return LandmarkSet(ISBI_2015, records, flip_pairs=(), source="synthetic")


def write_samples(out_dir: Path, seed: int, count: int, width: int, height: int) -> list[Path]:
    """The first `count` training images as PNGs, each landmark a coloured dot labelled 1..19 (ISBI numbering)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for record in synthetic_split(seed, "train", count, width, height).records:
        path = out_dir / f"{record.image_id}.png"
        if not cv2.imwrite(str(path), draw_landmarks(record.image, record.landmarks, min_width=640)):
            raise OSError(f"could not write {path}")
        paths.append(path)
    return paths
