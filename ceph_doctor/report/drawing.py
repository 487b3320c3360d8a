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
    """A different colour for every landmark: matplotlib's qualitative tab20 (19 ISBI landmarks), then tab20b
    and tab20c (29 Aariz, 38 CL-detection); beyond 60, hues spread by the golden ratio. Figures number the
    points as well, so no reader depends on telling two colours apart."""
    from matplotlib import colormaps

    palette = [tuple(colour[:3]) for name in ("tab20", "tab20b", "tab20c") for colour in colormaps[name].colors]
    if count <= len(palette):
        return palette[:count]
    return palette + [colorsys.hsv_to_rgb((0.07 + k * 0.618034) % 1.0, 0.78, 0.82) for k in range(count - len(palette))]


def severity_colour(severity: str) -> str:
    return SEVERITY_COLOURS.get(severity, "#17202a")
