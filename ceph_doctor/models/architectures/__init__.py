"""The image architectures, one module each: adding one is adding a file here (and its test).

Each module defines `DEFAULT_STRIDE`, `STRIDES` (the output strides it can predict at) and
`build(num_landmarks, *, in_channels, width, channels, stride) -> nn.Module`, a heatmap model with a
`backbone` and a `head` (see `models/build.py` for the interface the trainer relies on). The config
schema's `model.arch` choices are the module names, listed without importing them (no torch at config
time); a module is imported when a model of it is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> tuple[str, ...]:
    """The architectures there are, by module name."""
    return tuple(sorted(module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_")))


def get(name: str) -> ModuleType:
    """The module of architecture `name` (a KeyError naming the choices for an unknown one)."""
    if name not in names():
        raise KeyError(f"model arch must be one of {names()}, got {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
