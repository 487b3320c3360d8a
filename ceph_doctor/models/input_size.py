"""The one check every model makes of its input: both sides divisible by what its downsampling needs."""

from __future__ import annotations


def require_divisible(height: int, width: int, multiple: int, model: str = "") -> None:
    """ValueError naming the size to resize or pad to, when `height` or `width` is not a multiple."""
    if height % multiple or width % multiple:
        prefix = f"{model} input size" if model else "input size"
        raise ValueError(
            f"{prefix} {height}x{width} (HxW) is not divisible by {multiple}; resize or pad the images, "
            f"e.g. to {-(-height // multiple) * multiple}x{-(-width // multiple) * multiple}"
        )
