"""Landmark name lists of the supported cephalometric datasets."""

from __future__ import annotations

# ISBI 2015 grand challenge order (Wang et al. 2016); the synthetic data uses it too.
ISBI_2015 = (
    "Sella",
    "Nasion",
    "Orbitale",
    "Porion",
    "Subspinale",
    "Supramentale",
    "Pogonion",
    "Menton",
    "Gnathion",
    "Gonion",
    "Lower incisal incision",
    "Upper incisal incision",
    "Upper lip",
    "Lower lip",
    "Subnasale",
    "Soft-tissue pogonion",
    "Posterior nasal spine",
    "Anterior nasal spine",
    "Articulare",
)

# CL-detection 2023 (MICCAI challenge; 600 images from 3 centres): ISBI 2015's 19 in their order, then 19 more,
# named as the challenge's annotation notes name them.
CL_DETECTION_2023 = ISBI_2015 + (
    "D point",  # centre of the mandibular symphysis
    "Upper incisor apex",
    "Lower incisor apex",
    "Columella",
    "Pterygomaxillary fissure",
    "Condylion",
    "Pronasale",
    "Basion",
    "Pt point",
    "Bolton point",
    "Upper lip vermilion",  # UL': mucocutaneous junction of the upper lip
    "Lower lip vermilion",  # LL'
    "Soft-tissue gnathion",
    "Soft-tissue menton",
    "Glabella",
    "Soft-tissue nasion",
    "Cervical point",
    "Upper molar",
    "Lower molar",
)

# ISBI images are 1935 x 2400 px at 0.1 mm per pixel.
ISBI_NATIVE_SIZE = (1935, 2400)  # width, height
ISBI_SPACING_MM = 0.1
