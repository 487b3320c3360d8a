"""The 29 landmarks of the Aariz dataset (CEPHA29 challenge, ISBI 2023).

Order, titles and symbols follow the dataset authors' own reader
(github.com/manwaarkhd/aariz-cephalometric-dataset, config.py
ANATOMICAL_LANDMARKS), which is also the order of the `landmarks` list in
the annotation JSON files. Names are the titles, like ISBI_2015 uses full names.
"""

from __future__ import annotations

# (title, symbol); the symbols of the soft-tissue twins end in a backtick in
# the dataset ("N`"), which people often retype as an apostrophe ("N'").
AARIZ_29_TITLES_AND_SYMBOLS = (
    ("A-point", "A"),
    ("Anterior Nasal Spine", "ANS"),
    ("B-point", "B"),
    ("Menton", "Me"),
    ("Nasion", "N"),
    ("Orbitale", "Or"),
    ("Pogonion", "Pog"),
    ("Posterior Nasal Spine", "PNS"),
    ("Pronasale", "Pn"),
    ("Ramus", "R"),
    ("Sella", "S"),
    ("Articulare", "Ar"),
    ("Condylion", "Co"),
    ("Gnathion", "Gn"),
    ("Gonion", "Go"),
    ("Porion", "Po"),
    ("Lower 2nd PM Cusp Tip", "LPM"),
    ("Lower Incisor Tip", "LIT"),
    ("Lower Molar Cusp Tip", "LMT"),
    ("Upper 2nd PM Cusp Tip", "UPM"),
    ("Upper Incisor Apex", "UIA"),
    ("Upper Incisor Tip", "UIT"),
    ("Upper Molar Cusp Tip", "UMT"),
    ("Lower Incisor Apex", "LIA"),
    ("Labrale inferius", "Li"),
    ("Labrale superius", "Ls"),
    ("Soft Tissue Nasion", "N`"),
    ("Soft Tissue Pogonion", "Pog`"),
    ("Subnasale", "Sn"),
)

AARIZ_29 = tuple(title for title, _ in AARIZ_29_TITLES_AND_SYMBOLS)
AARIZ_29_SYMBOLS = tuple(symbol for _, symbol in AARIZ_29_TITLES_AND_SYMBOLS)


def normalize_landmark_key(text: str) -> str:
    """Fold case and the three quote marks used for 'soft tissue' symbols."""
    folded = text.strip().casefold()
    for quote in ("`", "\u2019", "\u2032"):
        folded = folded.replace(quote, "'")
    return folded


# Symbols and titles share one lookup: no symbol equals another landmark's title.
AARIZ_INDEX_BY_KEY = {
    normalize_landmark_key(key): index
    for index, pair in enumerate(AARIZ_29_TITLES_AND_SYMBOLS)
    for key in pair
}

assert len(AARIZ_29) == 29 and len(AARIZ_INDEX_BY_KEY) == 58, "Aariz names must be unique"
