"""A package of plug-in modules, one per choice: adding a choice is adding a file (and its test).

The choices are the package's module names, listed without importing them, so that reading a
config (whose schema offers them) does not import torch; a module is imported when it is used.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


class Registry:
    def __init__(self, package: str, key: str):
        self.package = package
        self.key = key  # the config key that chooses among them, for error messages

    def names(self) -> tuple[str, ...]:
        path = importlib.import_module(self.package).__path__
        return tuple(sorted(module.name for module in pkgutil.iter_modules(path) if not module.name.startswith("_")))

    def get(self, name: str) -> ModuleType:
        """The module of choice `name` (a KeyError naming the choices for an unknown one)."""
        if name not in self.names():
            raise KeyError(f"{self.key} must be one of {self.names()}, got {name!r}")
        return importlib.import_module(f"{self.package}.{name}")
