"""From paths to reports: find the runs, measure them, judge them.

The one place that strings the stages together (store → signals → rules); it
computes nothing itself and renders nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.errors import UserInputError
from ceph_doctor.signals import compute_signals
from ceph_doctor.store import layout
from ceph_doctor.store.reader import Run, load_run


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Every ceph-doctor run directory at or under each path, in a stable order."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UserInputError(f"{path}: no such file or directory")
        if (path / layout.MANIFEST).is_file():
            found.append(path)
            continue
        nested = sorted(manifest.parent for manifest in path.rglob(layout.MANIFEST))
        if not nested:
            raise UserInputError(f"{path}: no runs found (a run directory holds {layout.MANIFEST})")
        found.extend(nested)
    return found


def analyze_run(run: Run, rules) -> RunReport:
    from ceph_doctor.engine import diagnose

    signals = compute_signals(run)
    diagnoses, not_checked = diagnose(signals, rules)
    return RunReport(str(run.path), run.source, diagnoses, not_checked, run=run, signals=signals)


def analyze_paths(paths: Iterable[Path], rule_dirs: Iterable[Path] = ()) -> list[RunReport]:
    from ceph_doctor.engine import load_rules

    rules = load_rules(list(rule_dirs))
    return [analyze_run(load_run(path), rules) for path in find_runs(paths)]
