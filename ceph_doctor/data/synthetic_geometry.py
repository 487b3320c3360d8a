"""Curve building blocks for the synthetic skull: splines, offsets, ellipses, teeth.

Everything works on (n, 2) float arrays of x, y points. A corner (a spine tip, a cusp) is written by
repeating its control point: the Catmull-Rom spline then arrives and leaves along the chords instead of
rounding the corner off or overshooting it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def with_corners(rows: list[tuple]) -> np.ndarray:
    """Control points from (x, y) rows; a row (x, y, "corner") is doubled so the spline keeps it sharp."""
    points = []
    for row in rows:
        points.append(row[:2])
        if len(row) == 3:
            points.append(row[:2])
    return np.asarray(points, dtype=np.float64)


@lru_cache(maxsize=32)
def _catmull_rom_basis(samples_per_segment: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[:, None]
    return 0.5 * np.hstack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2])


def sample_spline(points: np.ndarray, closed: bool, samples_per_segment: int) -> np.ndarray:
    """Uniform Catmull-Rom curve through every control point.

    Control point i is sample i * samples_per_segment, so callers can map control-point ranges to samples.
    """
    if closed:
        padded = np.vstack([points[-1:], points, points[:2]])
        segments = len(points)
    else:
        # Mirrored end points give the open ends a natural, straight-ish tangent.
        padded = np.vstack([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
        segments = len(points) - 1
    quads = np.stack([padded[i : i + segments] for i in range(4)], axis=1)  # (segments, 4, 2)
    curve = np.einsum("kj,sjd->skd", _catmull_rom_basis(samples_per_segment), quads).reshape(-1, 2)
    return curve if closed else np.vstack([curve, points[-1:]])


def ellipse(center: tuple[float, float], rx: float, ry: float, count: int, start_deg: float = 0.0,
            stop_deg: float = 360.0, tilt_deg: float = 0.0) -> np.ndarray:
    """Points on an ellipse; angles in image convention (y down, so 90 degrees is the bottom)."""
    closed = abs(stop_deg - start_deg) >= 360.0
    angles = np.radians(np.linspace(start_deg, stop_deg, count, endpoint=not closed))
    local = np.stack([rx * np.cos(angles), ry * np.sin(angles)], axis=1)
    return rotate(local, tilt_deg) + np.asarray(center, dtype=np.float64)


def rotate(points: np.ndarray, degrees: float, pivot: np.ndarray | tuple = (0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    pivot = np.asarray(pivot, dtype=np.float64)
    return (points - pivot) @ np.array([[c, s], [-s, c]]) + pivot


def offset_curve(points: np.ndarray, distances: np.ndarray | float, away_from: tuple[float, float]) -> np.ndarray:
    """Shift each point of an open curve along its normal, the side pointing away from `away_from`."""
    tangents = np.gradient(points, axis=0)
    normals = np.stack([tangents[:, 1], -tangents[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    outward = np.sign(np.sum(normals * (points - np.asarray(away_from)), axis=1, keepdims=True))
    return points + normals * outward * np.asarray(distances, dtype=np.float64).reshape(-1, 1)


def rounded_corner(on_first: np.ndarray, first_dir: np.ndarray, on_second: np.ndarray, second_dir: np.ndarray,
                   radius: float, count: int) -> np.ndarray:
    """Arc of `radius` tangent to two lines, from the first line's tangent point to the second's.

    The lines are (point, direction towards the corner). With an odd `count` the middle arc point lies on
    the corner's bisector, which is how Gonion is constructed on a real ramus/mandibular-plane pair.
    """
    first_dir, second_dir = first_dir / np.linalg.norm(first_dir), second_dir / np.linalg.norm(second_dir)
    along = np.linalg.solve(np.stack([first_dir, -second_dir], axis=1), on_second - on_first)
    corner = on_first + along[0] * first_dir
    back_first, back_second = -first_dir, -second_dir
    half_angle = np.arccos(np.clip(back_first @ back_second, -1.0, 1.0)) / 2
    bisector = (back_first + back_second) / np.linalg.norm(back_first + back_second)
    centre = corner + bisector * radius / np.sin(half_angle)
    start = corner + back_first * radius / np.tan(half_angle) - centre
    stop = corner + back_second * radius / np.tan(half_angle) - centre
    a0, a1 = np.arctan2(start[1], start[0]), np.arctan2(stop[1], stop[0])
    a1 = a0 + (a1 - a0 + np.pi) % (2 * np.pi) - np.pi  # the short way round
    angles = np.linspace(a0, a1, count)
    return centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def tooth_outline(apex: tuple, tip: tuple, front: list[tuple], back: list[tuple]) -> np.ndarray:
    """A tooth as a closed outline around its long axis, from the root apex to a sharp incisal tip.

    `front` and `back` are (fraction along the axis, half-width in mm) stations on the labial and lingual
    sides, from apex to tip. The tip is control point len(front) + 1, doubled to stay sharp.
    """
    apex, tip = np.asarray(apex, dtype=np.float64), np.asarray(tip, dtype=np.float64)
    axis = tip - apex
    normal = np.array([-axis[1], axis[0]]) / np.linalg.norm(axis)
    normal *= np.sign(normal[0]) or 1.0  # labial = towards the face (+x)
    front_pts = [apex + f * axis + w * normal for f, w in front]
    back_pts = [apex + f * axis - w * normal for f, w in reversed(back)]
    return np.vstack([apex, *front_pts, tip, tip, *back_pts])
