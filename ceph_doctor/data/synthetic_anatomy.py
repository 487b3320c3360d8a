"""The mean lateral skull of the synthetic cephalograms and where its 19 ISBI landmarks sit on it.

Coordinates are millimetres in the native ISBI frame: 193.5 x 240 mm (1935 x 2400 px at 0.1 mm), x
towards the face (the patient looks right), y down. Proportions follow the ISBI 2015 mean shape.

Each structure is a control polygon that the renderer turns into a Catmull-Rom curve. A landmark is
either a control vertex (a spine tip, a junction, a centre) or an extreme point of one stretch of a
drawn curve in the head's own frame (most anterior, lowest, ...), i.e. its textbook definition applied to
what is drawn. Random variation (synthetic_variation) moves control points, never landmarks directly,
so the two cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ceph_doctor.data.landmarks import ISBI_2015
from ceph_doctor.data.synthetic_geometry import (
    ellipse,
    offset_curve,
    rounded_corner,
    tooth_outline,
    with_corners,
)


class Structure(NamedTuple):
    points: np.ndarray  # (n, 2) control points, mm
    closed: bool


# Anchors shared by a landmark and the structures drawn through it.
SELLA = (81.0, 102.0)
NASION = (140.0, 96.0)
ANS = (146.0, 151.0)
PNS = (86.0, 152.0)
A_POINT = (137.5, 157.0)
PROSTHION = (139.8, 163.5)
INFRADENTALE = (135.6, 182.5)
ARTICULARE = (64.0, 139.0)
MENTON = (126.0, 212.5)
UPPER_INCISOR_TIP = (141.5, 174.5)
LOWER_INCISOR_TIP = (139.0, 172.0)
SUBNASALE = (151.0, 156.0)
STOMION = (150.0, 177.5)
LABIOMENTAL_FOLD = (145.0, 197.5)
SOFT_MENTON = (134.0, 222.0)
B_POINT, POGONION, GNATHION = (132.5, 191.0), (135.0, 203.0), (131.5, 209.8)


def _cranium() -> dict[str, Structure]:
    # Outer table from nasion over the vault to the occiput (the back of the skull leaves the frame,
    # as in ISBI images). The vault is thickest at the glabella, where the frontal sinus sits.
    outer = np.array([NASION, (143.5, 91), (145.5, 84), (145.5, 72), (141, 56), (130, 38), (112, 24), (88, 15),
                      (62, 12), (36, 15), (12, 25), (-8, 40), (-22, 60), (-32, 85), (-36, 110)], dtype=float)
    thickness = np.array([9, 11, 12, 10, 8, 7, 6.5, 6.5, 6.5, 6.5, 7, 7, 7, 8, 8], dtype=float)
    inner = offset_curve(outer, -thickness, away_from=(60, 100))
    scalp = offset_curve(outer, 6.0, away_from=(60, 100))
    return {
        "vault": Structure(np.vstack([outer, inner[::-1]]), closed=True),
        "vault_outer": Structure(outer, closed=False),
        "vault_inner": Structure(inner, closed=False),
        "scalp": Structure(scalp, closed=False),
        "frontal_sinus": Structure(ellipse((139.5, 79), 3.2, 7.5, 8, tilt_deg=-10), closed=True),
    }


def _cranial_base() -> dict[str, Structure]:
    # The sella cup opens upwards; its centre is the Sella landmark. The dorsum sellae rises behind it.
    cup = ellipse(SELLA, 6.0, 5.0, 9, start_deg=-12, stop_deg=192)
    cup_line = np.vstack([[(88.5, 99.0)], cup, [(74.8, 97.0), (76.8, 93.8)]])
    return {
        "sella_centre": Structure(np.array([SELLA]), closed=False),
        "sella_fossa": Structure(cup, closed=True),
        "sella_cup": Structure(cup_line, closed=False),
        "sphenoid": Structure(np.array([(88.5, 99), (100, 97), (106, 110), (101, 125), (88, 129), (77, 122),
                                        (72, 108), (76, 97)], dtype=float), closed=True),
        "sphenoid_sinus": Structure(ellipse((95, 112), 6, 7, 8), closed=True),
        # Basion is a corner; Articulare sits on the inferior contour where the condyle's back crosses it.
        "basiocciput": Structure(with_corners([(77, 96), (68, 113), (60, 131), (54.5, 149, "corner"), (59, 144.5),
                                               ARTICULARE, (72, 129), (80, 120), (86, 118)]), closed=True),
        "anterior_cranial_base": Structure(np.array([(88.5, 99), (98, 95.8), (112, 94.5), (124, 93.5),
                                                     (133, 91.5)], dtype=float), closed=False),
        "orbital_roof": Structure(np.array([(96, 97), (108, 92.5), (122, 92.5), (134, 97)], dtype=float), False),
        "petrous": Structure(np.array([(40, 108), (62, 106), (76, 114), (66, 124), (46, 128)], dtype=float), True),
        "mastoid": Structure(ellipse((49, 136), 7.5, 11, 8, tilt_deg=15), closed=True),
        # The external auditory meatus; Porion is its highest point.
        "meatus": Structure(ellipse((60, 123), 4.2, 4.0, 10, start_deg=-90, stop_deg=270), closed=True),
    }


def _midface() -> dict[str, Structure]:
    front = with_corners([ANS, (141, 152.8), (138.5, 154.8), A_POINT, (138.2, 160.5), PROSTHION])
    return {
        # The lateral orbital rim and orbital floor: an open arc, faint above.
        "orbit": Structure(ellipse((128, 110.5), 10.5, 11.5, 11, start_deg=-40, stop_deg=215, tilt_deg=-12), False),
        "nasal_bone": Structure(np.array([NASION, (144.5, 105), (149.5, 116)], dtype=float), closed=False),
        "maxilla": Structure(np.vstack([[(90, 126), (108, 121), (124, 123), (133, 130), (140, 142), (144, 149.5)],
                                        front, [(136, 166), (125, 165.5), (112, 164.5), (98, 163.5), (92, 159),
                                                PNS, (87, 140)]]), closed=True),
        "maxilla_front": Structure(front, closed=False),
        "maxillary_sinus": Structure(ellipse((113, 138), 12, 8.5, 10), closed=True),
        "pterygomaxillary_fissure": Structure(with_corners([(86, 124), (91, 127), (90.5, 138), (87.5, 149, "corner"),
                                                            (85.5, 139), (84.5, 128)]), closed=True),
        "palate": Structure(with_corners([(PNS[0], PNS[1], "corner"), (95, 149.8), (115, 148.8), (135, 149),
                                          (143, 150.2), (ANS[0], ANS[1], "corner"), (141, 152.5), (133, 153.5),
                                          (118, 155.5), (100, 155.5), (90, 154)]), closed=True),
    }


def _mandible() -> dict[str, Structure]:
    # Gonion: bisect the angle between the ramus tangent (through Articulare) and the mandibular plane
    # (through Menton) and put the point where the bisector meets the rounded angle.
    angle = rounded_corner(np.array(ARTICULARE), np.array([6.0, 40.0]), np.array(MENTON), np.array([-55.0, -30.0]),
                           radius=11.0, count=5)
    condyle_and_ramus = [(62.3, 132), (63.5, 127.5), (67, 126.2), (70.5, 127.8), (71.3, 132), (70.5, 138),
                         (74.5, 144), (80, 146.5), (85.5, 142.5), (89.5, 135.5, "corner"), (91, 141), (92.5, 150),
                         (94.5, 160), (97.5, 169), (101.5, 178.5), (112, 179.3), (124, 180.3), (131, 181.5)]
    chin_and_border = [INFRADENTALE, (134.0, 186.5), B_POINT, (133.3, 197), POGONION, GNATHION, MENTON,
                       (119, 211), (108, 205.2), (96, 198.2), (86, 192.4)]
    outline = np.vstack([with_corners(condyle_and_ramus), np.array(chin_and_border), angle[::-1],
                         np.array([(66.9, 160.0), ARTICULARE])])
    return {
        "mandible": Structure(outline, closed=True),
        "symphysis_lingual": Structure(np.array([(129, 183), (124.5, 192), (120.5, 202), (121.5, 209), (125, 211.8)],
                                                dtype=float), closed=False),
        "hyoid": Structure(ellipse((101, 224), 5.5, 2.2, 8, tilt_deg=-15), closed=True),
    }


def _teeth() -> dict[str, Structure]:
    upper = tooth_outline((131.0, 151.0), UPPER_INCISOR_TIP,
                          front=[(0.25, 1.5), (0.55, 3.0), (0.75, 3.3), (0.92, 2.0)],
                          back=[(0.25, 1.5), (0.5, 2.8), (0.62, 3.6), (0.8, 2.2), (0.93, 1.0)])
    lower = tooth_outline((126.0, 193.0), LOWER_INCISOR_TIP,
                          front=[(0.25, 1.2), (0.55, 2.6), (0.78, 2.6), (0.94, 1.3)],
                          back=[(0.25, 1.2), (0.55, 2.5), (0.75, 2.6), (0.93, 1.2)])
    teeth = {"upper_incisor": Structure(upper, True), "lower_incisor": Structure(lower, True)}
    # Molars, premolars and canines along a slightly tilted occlusal plane; upper crowns meet lower crowns there.
    for jaw, side, centres, widths in (("upper", -1, (100, 110.5, 119.5, 127.5), (10, 9, 7.5, 7)),
                                       ("lower", 1, (101, 111, 120, 128), (10.5, 9, 7.5, 7))):
        for number, (x, w) in enumerate(zip(centres, widths)):
            occlusal = 170.8 + 0.06 * (x - 100)
            crown = [(-w / 2, 0.8), (-w / 4, 0), (0, 0.7), (w / 4, 0), (w / 2, 0.8), (w / 2 + 0.3, 4),
                     (w / 2 - 0.2, 7)]
            root = [(w / 2 - 0.8, 7), (w / 2 - 1.6, 18), (w / 6, 19), (-w / 6, 19), (-w / 2 + 1.6, 18),
                    (-w / 2 + 0.8, 7)]
            crown += [(-w / 2 + 0.2, 7), (-w / 2 - 0.3, 4)]
            to_mouth = lambda pts: np.array([(x + u, occlusal + side * v) for u, v in pts])  # noqa: E731
            teeth[f"{jaw}_crown_{number}"] = Structure(to_mouth(crown), True)
            teeth[f"{jaw}_root_{number}"] = Structure(to_mouth(root), True)
    return teeth


def _spine_and_airway() -> dict[str, Structure]:
    def body(x0, y0, x1, y1):  # a vertebral body: a rounded box
        return np.array([(x0, y0 + 1), (x1 - 1, y0), (x1, y1 - 1), (x0 + 1, y1)], dtype=float)

    return {
        "axis_c2": Structure(np.array([(47, 151), (53, 149), (56, 158), (60, 166), (59.5, 181), (45, 183), (42, 170),
                                       (45, 160)], dtype=float), closed=True),
        "c3": Structure(body(42, 187, 58, 199), True),
        "c4": Structure(body(41, 204, 57, 216), True),
        "c5": Structure(body(40, 221, 56, 233), True),
        "airway": Structure(np.array([(68, 150), (76, 152), (74, 175), (78, 200), (77, 245), (64, 245), (64, 200),
                                      (62, 175), (63, 155)], dtype=float), closed=True),
    }


def _soft_tissue() -> dict[str, Structure]:
    profile = with_corners([(150, 91), (146.5, 97.5), (149, 106), (154.5, 117), (161, 128), (168, 136), (171.5, 141),
                            (170.5, 146), (166, 150), (159, 152.5), (*SUBNASALE, "corner"), (152.5, 160),
                            (155.5, 164.5), (157, 168), (155.5, 172.5), (152, 176), (*STOMION, "corner"), (152, 180),
                            (154, 183), (154.5, 186.5), (153, 190.5), (148.5, 195), LABIOMENTAL_FOLD, (145.5, 201.5),
                            (148, 207), (146.5, 212), (142, 217.5), SOFT_MENTON, (122, 224.5), (112, 226),
                            (104, 229), (98, 240), (95, 260)])
    return {"soft_profile": Structure(profile, closed=False)}


def _build() -> dict[str, Structure]:
    structures: dict[str, Structure] = {}
    for part in (_cranium, _cranial_base, _midface, _mandible, _teeth, _spine_and_airway, _soft_tissue):
        structures.update(part())
    # The head silhouette: scalp from the back of the skull forward, then the face profile, then round
    # the frame's bottom-left corner (outside the image) back to the start.
    scalp = structures["scalp"].points[::-1]
    head = np.vstack([scalp[:-2], structures["soft_profile"].points, [(-60, 260), (-60, 110)]])
    structures["head"] = Structure(head, closed=True)
    return structures


MEAN_STRUCTURES: dict[str, Structure] = _build()


def _index(structure: str, point: tuple[float, float]) -> int:
    distances = np.linalg.norm(MEAN_STRUCTURES[structure].points - np.asarray(point[:2]), axis=1)
    return int(np.argmin(distances))


class LandmarkRule(NamedTuple):
    """Where a landmark is found on the (deformed) structures.

    kind "vertex": control point `start`. kind "extreme": along the curve from control point `start` to
    `stop` (wrapping round a closed curve; stop -1 means all of it), the sample that maximises
    `direction` . xy in the head's own frame. kind "farthest": the sample between `start` and `stop`
    farthest from their chord on the anterior-inferior side (Gnathion).
    """

    structure: str
    kind: str
    start: int
    stop: int = 0
    direction: tuple[float, float] = (0.0, 0.0)


_ANTERIOR, _POSTERIOR, _DOWN, _UP = (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)


def _vertex(structure: str, point) -> LandmarkRule:
    return LandmarkRule(structure, "vertex", _index(structure, point))


def _extreme(structure: str, start, stop, direction) -> LandmarkRule:
    if start is None:  # the whole curve
        return LandmarkRule(structure, "extreme", 0, -1, direction)
    return LandmarkRule(structure, "extreme", _index(structure, start), _index(structure, stop), direction)


LANDMARK_RULES: dict[str, LandmarkRule] = {
    "Sella": _vertex("sella_centre", SELLA),
    "Nasion": _vertex("nasal_bone", NASION),
    "Orbitale": _extreme("orbit", None, None, _DOWN),  # lowest point of the whole orbital rim
    "Porion": _extreme("meatus", None, None, _UP),  # highest point of the whole meatus
    "Subspinale": _extreme("maxilla_front", ANS, PROSTHION, _POSTERIOR),
    "Supramentale": _extreme("mandible", INFRADENTALE, POGONION, _POSTERIOR),
    "Pogonion": _extreme("mandible", B_POINT, MENTON, _ANTERIOR),
    "Menton": _extreme("mandible", POGONION, (108, 205.2), _DOWN),
    "Gnathion": LandmarkRule("mandible", "farthest", _index("mandible", POGONION), _index("mandible", MENTON)),
    "Gonion": LandmarkRule("mandible", "vertex", len(MEAN_STRUCTURES["mandible"].points) - 5),
    "Lower incisal incision": _vertex("lower_incisor", LOWER_INCISOR_TIP),
    "Upper incisal incision": _vertex("upper_incisor", UPPER_INCISOR_TIP),
    "Upper lip": _extreme("soft_profile", SUBNASALE, STOMION, _ANTERIOR),
    "Lower lip": _extreme("soft_profile", STOMION, LABIOMENTAL_FOLD, _ANTERIOR),
    "Subnasale": _vertex("soft_profile", SUBNASALE),
    "Soft-tissue pogonion": _extreme("soft_profile", LABIOMENTAL_FOLD, SOFT_MENTON, _ANTERIOR),
    "Posterior nasal spine": _vertex("palate", PNS),
    "Anterior nasal spine": _vertex("palate", ANS),
    "Articulare": _vertex("mandible", ARTICULARE),
}
assert tuple(LANDMARK_RULES) == ISBI_2015, "landmark rules must follow the ISBI 2015 order"
