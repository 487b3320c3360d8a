"""Synthetic orthodontic braces: brackets and an archwire drawn over the teeth, placed from the incisor landmarks.

Patients in treatment are a large share of the cephalograms a clinic takes, and metal is the brightest thing
in them, right beside the incisor landmarks. A model that never saw a bracket can take one for an incisal edge.

The braces are drawn on the upright image, before the geometric augmentation moves image and landmarks
together, so they follow every rotation, zoom and flip. Their sizes come from the skull's own size (the RMS
distance of the landmarks from their centroid, about 47 mm on an adult), so they are the same anatomy at any
resolution: a bracket about 3.4 mm wide, one every 7.5 mm from the incisors back to the first molar, on the
labial face of each crown about 4.5 mm from the occlusal edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from ceph_doctor.data.aariz_landmarks import AARIZ_29, AARIZ_29_SYMBOLS
from ceph_doctor.errors import ConfigError

# In units of the skull's RMS landmark spread (see the module's docstring for the millimetres).
BRACKET_WIDTH = 0.072
BRACKET_HEIGHT = 0.060
BRACKET_SPACING = 0.16
CROWN_OFFSET = 0.095  # from the occlusal edge to the bracket's centre
WIRE_WIDTH = 0.016
TEETH_PER_ARCH = 5  # central incisor, canine, two premolars, first molar (its bracket is a longer tube)
_SUB_PIXEL_BITS = 4  # OpenCV's fixed-point drawing: positions to 1/16 px
_SYMBOL_TITLES = {symbol.lower(): title for title, symbol in zip(AARIZ_29, AARIZ_29_SYMBOLS)}


@dataclass(frozen=True)
class IncisorTips:
    """Which landmarks are the incisal edges (either may be absent, not both)."""

    upper: int | None
    lower: int | None

    @classmethod
    def among(cls, names: tuple[str, ...]) -> "IncisorTips":
        """Read from the names: an incisor word (`incisal`, `incisor`) with a jaw (`upper`/`maxillary`,
        `lower`/`mandibular`), not a root (`apex`); Aariz's symbols (UIT, LIT) by their titles."""
        upper = lower = None
        for index, name in enumerate(names):
            words = re.findall(r"[a-z]+", _SYMBOL_TITLES.get(name.strip().lower(), name).lower())
            if not any(word.startswith("incis") for word in words) or {"apex", "root", "apical"} & set(words):
                continue
            if upper is None and {"upper", "maxillary"} & set(words):
                upper = index
            elif lower is None and {"lower", "mandibular"} & set(words):
                lower = index
        return cls(upper, lower)

    @property
    def found(self) -> bool:
        return self.upper is not None or self.lower is not None


def incisor_tips_or_refuse(names: tuple[str, ...]) -> IncisorTips:
    tips = IncisorTips.among(names)
    if not tips.found:
        raise ConfigError("augment.braces: the landmarks name no incisal edge (e.g. 'Upper incisal incision', "
                             "'Lower Incisor Tip') to place the braces from; set augment.braces=0")
    return tips


def draw_braces(image: np.ndarray, landmarks: np.ndarray, tips: IncisorTips, rng: np.random.Generator) -> np.ndarray:
    """A copy of the uint8 image (upright, face to one side) with braces on the arches whose incisal edge is
    annotated in these (K, 2) landmarks; the image itself where none is."""
    known = landmarks[np.isfinite(landmarks).all(axis=1)]
    arches = [(index, sign) for index, sign in ((tips.upper, -1.0), (tips.lower, 1.0))
              if index is not None and np.isfinite(landmarks[index]).all()]
    if not arches or len(known) < 3:
        return image
    centroid = known.mean(axis=0)
    spread = float(np.sqrt(((known - centroid) ** 2).sum(axis=1).mean()))
    edges = np.array([landmarks[index] for index, _ in arches])
    # Back along the occlusal plane: away from the face (the incisors are its front), rising a few degrees.
    backwards = 1.0 if centroid[0] > edges[:, 0].mean() else -1.0
    tilt = np.deg2rad(rng.uniform(2.0, 8.0))
    along = np.array([backwards * np.cos(tilt), -np.sin(tilt)])
    across = np.array([-along[1], along[0]])
    across = across if across[1] > 0 else -across  # towards the lower jaw: image y grows downward
    metal = np.zeros_like(image)
    brightness = rng.uniform(0.92, 1.0) * 255.0  # metal saturates the film
    for edge, side in zip(edges, (sign for _, sign in arches)):
        centres = [edge + side * across * CROWN_OFFSET * spread + along * spread * (BRACKET_SPACING * tooth)
                   for tooth in range(TEETH_PER_ARCH)]
        centres = [centre + rng.normal(0.0, 0.01 * spread, 2) for centre in centres]
        for tooth, centre in enumerate(centres):
            width = BRACKET_WIDTH * spread * (1.6 if tooth == TEETH_PER_ARCH - 1 else 1.0)
            _fill_box(metal, centre, along, across, width, BRACKET_HEIGHT * spread, brightness)
        wire = np.round(np.array(centres) * (1 << _SUB_PIXEL_BITS)).astype(np.int32)
        cv2.polylines(metal, [wire], False, 0.9 * brightness, max(1, round(WIRE_WIDTH * spread)), cv2.LINE_AA,
                      _SUB_PIXEL_BITS)
    return np.maximum(image, metal)  # metal stops the beam: it is at least as bright as what lies behind it


def _fill_box(canvas: np.ndarray, centre, along, across, width: float, height: float, value: float) -> None:
    corners = [centre + along * (u * width / 2) + across * (v * height / 2) for u, v in
               ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    points = np.round(np.array(corners) * (1 << _SUB_PIXEL_BITS)).astype(np.int32)
    cv2.fillConvexPoly(canvas, points, value, cv2.LINE_AA, _SUB_PIXEL_BITS)
