"""Per-image variation of the mean skull, and the landmarks found on the varied skull.

Variation is a smooth displacement field over the whole head (named shape modes: a longer face, a
retruded mandible, thicker lips ...) plus a few local changes (sella size, incisor inclination) and a
pose (scale, rotation, translation). It moves control points only; landmarks are then found on the
moved structures with the rules of synthetic_anatomy, so they stay on what is drawn.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ceph_doctor.data.synthetic_anatomy import LANDMARK_RULES, MEAN_STRUCTURES, SELLA, Structure
from ceph_doctor.data.synthetic_geometry import rotate, sample_spline

# Fine enough that an extreme point found on the curve is within ~0.1 mm of the true curve extreme.
_LANDMARK_SAMPLES_PER_SEGMENT = 16

# The bony facial profile (y -> x, mm), to tell soft tissue in front of it from bone.
_BONE_PROFILE_Y = np.array([60, 84, 96, 116, 151, 157, 163.5, 170, 176, 182.5, 191, 203, 212, 230], dtype=float)
_BONE_PROFILE_X = np.array([145, 145.5, 140, 149.5, 146, 137.5, 140, 145.5, 144, 136, 133, 135, 126, 110], dtype=float)

FRAME_CENTRE_MM = np.array([96.75, 120.0])  # centre of the 193.5 x 240 mm ISBI frame


class SkullSample(NamedTuple):
    structures: dict[str, Structure]  # varied control points, head frame (mm)
    landmarks: np.ndarray  # (19, 2) head frame (mm)
    pose: np.ndarray  # (2, 3) affine, head frame mm -> image frame mm


# Cervical vertebral maturation (Baccetti et al. 2005): with skeletal age the bodies of C3-C5 go from
# wedge-shaped and wider than tall to square and then taller than wide. Maturity 0..1 sets their height
# from 0.65x to 1.3x the mean skull's (12 mm tall, 16 mm wide); the six stages split it evenly.
VERTEBRAE = ("c3", "c4", "c5")
CVM_STAGES = 6
_VERTEBRA_HEIGHT = (0.65, 1.3)


def cvm_stage(maturity: float) -> int:
    """The CVM stage, 1..6, of a skeletal maturity in [0, 1]."""
    return 1 + min(CVM_STAGES - 1, int(maturity * CVM_STAGES))


def sample_skull(rng: np.random.Generator, maturity: float = 0.5) -> SkullSample:
    structures = _matured_vertebrae(dict(MEAN_STRUCTURES), maturity)
    structures = _local_changes(structures, rng)
    structures = _apply_field(structures, rng)
    return SkullSample(structures, find_landmarks(structures), _sample_pose(rng))


def _matured_vertebrae(structures: dict[str, Structure], maturity: float) -> dict[str, Structure]:
    low, high = _VERTEBRA_HEIGHT
    factor = low + (high - low) * maturity
    for name in VERTEBRAE:
        points, closed = structures[name]
        centre = points.mean(axis=0)
        structures[name] = Structure(np.column_stack([points[:, 0], (points[:, 1] - centre[1]) * factor + centre[1]]),
                                     closed)
    return structures


def _local_changes(structures: dict[str, Structure], rng: np.random.Generator) -> dict[str, Structure]:
    sella_scale = float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3))
    for name in ("sella_cup", "sella_fossa"):
        points, closed = structures[name]
        structures[name] = Structure((points - SELLA) * sella_scale + SELLA, closed)
    # Incisor inclination varies a lot between people (proclined / retroclined); turn about the apex.
    for name in ("upper_incisor", "lower_incisor"):
        points, closed = structures[name]
        structures[name] = Structure(rotate(points, float(np.clip(rng.normal(0, 4.0), -9, 9)), points[0]), closed)
    return structures


def _smoothstep(lo: float, hi: float, value: np.ndarray) -> np.ndarray:
    t = np.clip((value - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _bump(centre: float, width: float, value: np.ndarray) -> np.ndarray:
    return np.exp(-(((value - centre) / width) ** 2))


def shape_field(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Displacement (mm) of each point: a sum of smooth, anatomically named modes.

    Smooth fields cannot tear or fold the drawing, and a point shared by two structures (Articulare on
    the ramus and on the cranial base) moves identically in both.
    """
    x, y = points[:, 0], points[:, 1]
    dx, dy = np.zeros_like(x), np.zeros_like(y)
    lower_face = _smoothstep(150, 195, y) * _smoothstep(60, 100, x)
    dx += rng.normal(0, 3.0) * lower_face  # mandible forward (class III) or back (class II)
    dy += rng.normal(0, 4.0) * _smoothstep(150, 215, y)  # long or short lower face
    dx += rng.normal(0, 2.0) * _bump(158, 18, y) * _smoothstep(95, 135, x)  # maxillary protrusion
    dx += rng.normal(0, 2.0) * _smoothstep(70, 120, x) * (1 - _smoothstep(110, 150, y))  # forehead depth
    # Chin prominence; a chin receding past the supramental concavity would leave B point undefined.
    dx += np.clip(rng.normal(0, 1.5), -1.0, 3.5) * _bump(203, 9, y) * _smoothstep(112, 128, x)
    soft = _smoothstep(3, 8, x - np.interp(y, _BONE_PROFILE_Y, _BONE_PROFILE_X))
    dx += rng.normal(0, 1.8) * soft  # soft-tissue thickness
    dx += rng.normal(0, 2.5) * soft * _bump(138, 14, y)  # nose size
    for _ in range(2):  # low-frequency individual differences that have no name
        direction = rng.normal(size=2)
        wave = rng.normal(size=2)
        wave *= 2 * np.pi / (rng.uniform(80, 160) * np.linalg.norm(wave))
        wobble = rng.normal(0, 0.8) * np.sin(x * wave[0] + y * wave[1] + rng.uniform(0, 2 * np.pi))
        dx += wobble * direction[0] / np.linalg.norm(direction)
        dy += wobble * direction[1] / np.linalg.norm(direction)
    return np.stack([dx, dy], axis=1)


def _apply_field(structures: dict[str, Structure], rng: np.random.Generator) -> dict[str, Structure]:
    everything = np.vstack([points for points, _ in structures.values()])
    moved = everything + shape_field(everything, rng)
    out, start = {}, 0
    for name, (points, closed) in structures.items():
        out[name] = Structure(moved[start : start + len(points)], closed)
        start += len(points)
    return out


def _sample_pose(rng: np.random.Generator) -> np.ndarray:
    """Head size, tilt and position in the cephalostat."""
    scale = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    angle = float(np.clip(rng.normal(0.0, 3.0), -7.0, 7.0))
    shift = np.clip(rng.normal(0.0, [4.0, 5.0]), [-10.0, -12.0], [10.0, 12.0])
    c, s = np.cos(np.radians(angle)) * scale, np.sin(np.radians(angle)) * scale
    linear = np.array([[c, -s], [s, c]])
    return np.hstack([linear, (FRAME_CENTRE_MM + shift - linear @ FRAME_CENTRE_MM)[:, None]])


def find_landmarks(structures: dict[str, Structure]) -> np.ndarray:
    curves: dict[str, np.ndarray] = {}
    found = []
    for rule in LANDMARK_RULES.values():
        points, closed = structures[rule.structure]
        if rule.kind == "vertex":
            found.append(points[rule.start])
            continue
        if rule.structure not in curves:
            curves[rule.structure] = sample_spline(points, closed, _LANDMARK_SAMPLES_PER_SEGMENT)
        stretch = _stretch(curves[rule.structure], rule.start, rule.stop, closed)
        direction = np.asarray(rule.direction)
        if rule.kind == "farthest":
            chord = stretch[-1] - stretch[0]
            direction = np.array([-chord[1], chord[0]])
            direction *= np.sign(direction @ (1.0, 1.0))  # anterior-inferior
        found.append(stretch[np.argmax(stretch @ direction)])
    return np.asarray(found)


def _stretch(curve: np.ndarray, start: int, stop: int, closed: bool) -> np.ndarray:
    if stop < 0:
        return curve
    first, last = start * _LANDMARK_SAMPLES_PER_SEGMENT, stop * _LANDMARK_SAMPLES_PER_SEGMENT
    if closed and last <= first:  # wrap round
        return np.vstack([curve[first:], curve[: last + 1]])
    return curve[first : last + 1]
