"""From paths to reports: find the runs, measure them, judge them.

The one place that strings the stages together (store → signals → rules); it
computes nothing itself and renders nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.errors import UserInputError
from ceph_doctor.signals import compute_signals
from ceph_doctor.folder_walk import walk
from ceph_doctor.store import layout
from ceph_doctor.store.reader import Run, load_run


def collect_runs(paths: Iterable[Path], names=None) -> tuple[list[Run], list]:
    """ceph-doctor runs and other tools' logs at or under each path, and the files passed over (SkipNote)."""
    from ceph_doctor.importers import SkipNote, discover

    runs: list[Run] = []
    skipped: list = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UserInputError(f"{path}: no such file or directory")
        if (path / layout.MANIFEST).is_file():
            runs.append(load_run(path))  # a run asked for by name: unreadable is one line and exit 2
            continue
        own = [file.parent for file in walk(path).files if file.name == layout.MANIFEST] if path.is_dir() else []
        imported, passed_over = discover(path, names)
        if not own and not imported:
            why = "; ".join(str(note) for note in passed_over[:3])
            raise UserInputError(
                f"{path}: no runs found (a run directory holds {layout.MANIFEST}; other tools' logs read: "
                f"TensorBoard event files, MMEngine work dirs, CSV, text with pred=/gt= lines)"
                + (f": {why}" if why else "")
            )
        for run_dir in own:  # one damaged run among many is reported and passed over, not fatal
            try:
                runs.append(load_run(run_dir))
            except UserInputError as error:
                skipped.append(SkipNote(run_dir, f"not read: {str(error).removeprefix(f'{run_dir}: ')}"))
        runs.extend(imported)
        skipped.extend(passed_over)
    return runs, skipped


def analyze_run(run: Run, rules, reference: Run | None = None) -> RunReport:
    """`reference`: a finished run to race against (behind-schedule); by default the one the run's own config
    names (`train.doctor.reference`)."""
    from ceph_doctor.engine import diagnose

    import numpy as np

    with_reference(run, reference)
    # Logged numbers are anyone's: 1e308 overflows a difference to inf, which the signals carry and the rules
    # read as not finite. numpy's warnings about it would only be noise on the user's terminal.
    with np.errstate(all="ignore"):
        signals = compute_signals(run)
    diagnoses, not_checked = diagnose(signals, rules)
    return RunReport(str(run.path), run.source, diagnoses, not_checked, run=run, signals=signals,
                     unseen_parts=sorted(set(signals.unseen.values())))


def analyze_paths(
    paths: Iterable[Path],
    rule_dirs: Iterable[Path] = (),
    names=None,
    on_files: Callable[[list[Run], list], None] | None = None,
    reference: Path | None = None,
) -> list[RunReport]:
    """`names`: an importers.names.NameMap (`--map`); `on_files(runs, skipped)` hears what was read and passed over;
    `reference`: a finished run every run is raced against (`--reference`)."""
    from ceph_doctor.engine import load_rules

    rules = load_rules(list(rule_dirs))
    against = read_reference(reference, names) if reference is not None else None
    runs, skipped = collect_runs(paths, names)
    if on_files is not None:
        on_files(runs, skipped)
    return [analyze_run(run, rules, against) for run in runs]


def read_reference(path: Path, names=None) -> Run:
    """The reference run at `path` (a run directory or logs `analyze` reads); one line naming it if there is none."""
    runs, _ = collect_runs([Path(path)], names)
    if len(runs) != 1:
        raise UserInputError(f"{path}: a reference is one run; found {len(runs)}")
    return runs[0]


_REFERENCES: dict[str, tuple[tuple, Run]] = {}  # path → (its files' sizes and times, the run): read once while unchanged


def with_reference(run: Run, reference: Run | None = None) -> None:
    """Give `run` the reference it races against: `reference`, else the one its config names (read once per
    change of its files, since the live doctor asks at every validation); a reference that cannot be read is said
    by the signals that need it."""
    if reference is not None:
        run.reference = reference
    if run.reference is not None:
        return
    from ceph_doctor.signals.base import own_setting

    path = own_setting(run, "train.doctor.reference", None)
    if not isinstance(path, str) or not path:
        return
    from ceph_doctor.folder_walk import signature

    where = Path(path)
    try:
        key = signature(where)
        if _REFERENCES.get(str(where), ((), None))[0] != key or not key:
            _REFERENCES[str(where)] = (key, read_reference(where))
        run.reference = _REFERENCES[str(where)][1]
    except (UserInputError, OSError) as error:
        run.reference_problem = f"the reference run train.doctor.reference names ({error})"
