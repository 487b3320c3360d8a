"""How a value is shown in every report: short, readable, the same words in the terminal, Markdown and HTML."""

from __future__ import annotations

import json
import math
from typing import Any


def format_value(value: Any, limit: int = 160) -> str:
    """A measured value or a config value, short and readable: 4 significant digits, YAML-like words."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(format_value(item, limit) for item in value[:12])
        text = f"[{shown}{', …' if len(value) > 12 else ''}]"
    elif isinstance(value, dict):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
