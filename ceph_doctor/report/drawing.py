"""Drawing conventions every figure shares: colours, size, and the PNG export.

Figures are built on `matplotlib.figure.Figure` without pyplot, so rendering a report neither
switches the user's matplotlib backend nor keeps figures alive in pyplot's registry.
"""

from __future__ import annotations

import colorsys
import io

from matplotlib.figure import Figure

DPI = 100  # small, fast PNGs that stay sharp at their natural size in a page
SEVERITY_COLOURS = {"error": "#c0392b", "warning": "#d68910", "info": "#2874a6"}
TRAIN_COLOUR, VAL_COLOUR, BEST_COLOUR, LAST_COLOUR = "#7f8c8d", "#1f618d", "#1e8449", "#a04000"


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # "tight": constrained layout alone can leave long tick labels outside a figure with legends below it.
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.08)
    return buffer.getvalue()


def landmark_colours(count: int) -> list[tuple[float, float, float]]:
    # Golden-ratio hues: neighbouring indices (often neighbouring points on the skull) differ most.
    return [colorsys.hsv_to_rgb((0.07 + k * 0.618034) % 1.0, 0.78, 0.82) for k in range(count)]


def severity_colour(severity: str) -> str:
    return SEVERITY_COLOURS.get(severity, "#17202a")
