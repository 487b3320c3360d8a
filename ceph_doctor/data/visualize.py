"""Draw landmarks on an image so a person can check them at a glance."""

from __future__ import annotations

import cv2
import numpy as np

# Distinct colours (BGR) cycling over landmark indices.
PALETTE = (
    (75, 25, 230), (75, 180, 60), (25, 225, 255), (200, 130, 0), (48, 130, 245), (180, 30, 145),
    (240, 240, 70), (230, 50, 240), (60, 245, 210), (212, 190, 250), (128, 128, 0), (255, 190, 220),
    (40, 110, 170), (200, 250, 255), (0, 0, 128), (195, 255, 170), (0, 128, 128), (180, 215, 255),
    (128, 0, 0),
)


def draw_landmarks(
    image: np.ndarray,
    landmarks: np.ndarray,
    predictions: np.ndarray | None = None,
    numbered: bool = True,
    min_width: int = 0,
) -> np.ndarray:
    """A BGR copy of a grayscale `image` with truth as filled dots (numbered from 1) and,
    if given, predictions as crosses joined to their truth by a line. An image narrower
    than `min_width` is enlarged first, so the numbers stay legible on small renders."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    zoom = max(1.0, min_width / canvas.shape[1])
    if zoom > 1.0:
        canvas = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        landmarks = (np.asarray(landmarks, np.float64) + 0.5) * zoom - 0.5  # pixel centres stay aligned
        if predictions is not None:
            predictions = (np.asarray(predictions, np.float64) + 0.5) * zoom - 0.5
    scale = max(canvas.shape[:2]) / 400.0
    radius = max(2, round(3 * scale))
    font = 0.35 * max(scale, 0.8)
    for index, point in enumerate(landmarks):
        if not np.isfinite(point).all():
            continue
        colour = PALETTE[index % len(PALETTE)]
        centre = tuple(int(round(v)) for v in point)
        if predictions is not None and np.isfinite(predictions[index]).all():
            guess = tuple(int(round(v)) for v in predictions[index])
            cv2.line(canvas, centre, guess, colour, 1, cv2.LINE_AA)
            cv2.drawMarker(canvas, guess, colour, cv2.MARKER_CROSS, radius * 3, max(1, radius // 2), cv2.LINE_AA)
        cv2.circle(canvas, centre, radius, colour, -1, cv2.LINE_AA)
        if numbered:
            cv2.putText(canvas, str(index + 1), (centre[0] + radius + 1, centre[1] - radius),
                        cv2.FONT_HERSHEY_SIMPLEX, font, colour, 1, cv2.LINE_AA)
    return canvas
