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
    if given, predictions as crosses joined to their truth by a line, with a key below saying so.
    An image narrower than `min_width` is enlarged first, so the numbers stay legible on small renders.
    Numbers are placed beside their dot where they cover no number placed before them."""
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
    placed: list[tuple[int, int, int, int]] = []
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
            _label(canvas, str(index + 1), centre, radius, font, colour, placed)
    return _with_key(canvas, font, predictions is not None) if predictions is not None else canvas


def _label(canvas: np.ndarray, text: str, centre: tuple[int, int], radius: int, font: float, colour,
           placed: list[tuple[int, int, int, int]]) -> None:
    """The number beside its dot, at the first of eight places that overlaps no number drawn before."""
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
    gap = radius + 1
    offsets = [(gap, -gap), (gap, gap + height), (-gap - width, -gap), (-gap - width, gap + height),
               (-width // 2, -gap - 2), (-width // 2, gap + height + 2), (gap + width, -gap), (-gap - 2 * width, -gap)]
    for dx, dy in offsets:
        box = (centre[0] + dx, centre[1] + dy - height, centre[0] + dx + width, centre[1] + dy)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    origin = (box[0], box[3])
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 3, cv2.LINE_AA)  # outline
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font, colour, 1, cv2.LINE_AA)


def _with_key(canvas: np.ndarray, font: float, predictions: bool) -> np.ndarray:
    """A strip under the picture saying what its marks are."""
    height = int(28 * max(font / 0.35, 1.0))
    strip = np.full((height, canvas.shape[1], 3), 255, np.uint8)
    y = height // 2
    cv2.circle(strip, (12, y), 5, (60, 60, 60), -1, cv2.LINE_AA)
    cv2.putText(strip, "truth (numbered)", (22, y + 5), cv2.FONT_HERSHEY_SIMPLEX, max(font, 0.4), (40, 40, 40), 1,
                cv2.LINE_AA)
    if predictions:
        x = 22 + cv2.getTextSize("truth (numbered)", cv2.FONT_HERSHEY_SIMPLEX, max(font, 0.4), 1)[0][0] + 24
        cv2.drawMarker(strip, (x, y), (60, 60, 60), cv2.MARKER_CROSS, 12, 2, cv2.LINE_AA)
        cv2.putText(strip, "prediction, joined to its truth", (x + 12, y + 5), cv2.FONT_HERSHEY_SIMPLEX,
                    max(font, 0.4), (40, 40, 40), 1, cv2.LINE_AA)
    return np.vstack([canvas, strip])
