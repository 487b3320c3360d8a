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

# ISBI images are 1935 x 2400 px at 0.1 mm per pixel.
ISBI_NATIVE_SIZE = (1935, 2400)  # width, height
ISBI_SPACING_MM = 0.1
