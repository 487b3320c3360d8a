"""The layers of shared/DESIGN.md's data flow, checked: a module imports only from the layers below its own
(cli → analyze/compare/sanity/report → engine → signals/importers → train → store → data/models/codec),
and no two modules of a package import each other in a circle. The contracts are in pyproject.toml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_the_import_contracts_are_kept(capsys):
    importlinter_cli = pytest.importorskip("importlinter.cli")
    root = Path(__file__).resolve().parents[1]
    previous = os.getcwd()
    os.chdir(root)  # the contracts are read from the project's pyproject.toml
    try:
        code = importlinter_cli.lint_imports()
    finally:
        os.chdir(previous)
    output = capsys.readouterr().out
    assert code == 0, output
    assert "2 kept, 0 broken" in output
