"""Reports of analyzed runs: terminal (rich), JSON, Markdown and one self-contained HTML file.

Renderers never decide: they draw what the engine concluded (`RunReport`) and what the run recorded.

    render_terminal(reports, console)   # diagnoses by severity, evidence, fixes, what was not checked
    render_json(reports) -> str         # {"schema": 1, "runs": [...]}, as in DESIGN.md
    render_markdown(reports, out)       # out.md + out_figures/*.png
    render_html(reports, out)           # one file, figures and style inside

The renderers are imported on first use, so `render_json` does not pay for matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "render_terminal": "terminal",
    "render_json": "json_report",
    "render_markdown": "markdown",
    "render_html": "html",
    "run_figures": "figures",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
