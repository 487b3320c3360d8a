"""MLflow's file store: `mlruns/<experiment>/<run>/metrics/<key>` (one file per metric, lines of
`timestamp value step`; a key with `/` is nested folders), `params/<key>` and `meta.yaml`.

Read as files, without MLflow installed. A metric named like an epoch counter gives the epochs (as
TensorBoard's `epoch` scalar does); params give the settings; the run's status comes from meta.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ceph_doctor import bounded_yaml
from ceph_doctor.importers import Logged, Part, non_finite_note, rows_to_columns, scalar_table
from ceph_doctor.importers.configs import canonical, flatten
from ceph_doctor.importers.names import NameMap
from ceph_doctor.store.meaning import parse

NAME = "mlflow"
_LINE = re.compile(rb"^\s*\d+\s+\S+\s+-?\d+\s*$")
_STATUS = {1: "running", 2: "scheduled", 3: "completed", 4: "failed", 5: "killed",
           "RUNNING": "running", "FINISHED": "completed", "FAILED": "failed", "KILLED": "killed"}


def metrics_folder(path: Path) -> Path | None:
    """The `metrics/` folder of the MLflow run holding `path`, or None."""
    for parent in path.parents:
        if parent.name == "metrics" and (parent.parent / "meta.yaml").is_file():
            return parent
    return None


def artifact_run(path: Path) -> Path | None:
    """The MLflow run whose `artifacts/` hold `path`, or None: its debug logs and predictions are the run's."""
    for parent in path.parents:
        if parent.name == "artifacts" and (parent.parent / "meta.yaml").is_file():
            return parent.parent
    return None


def sniff(path: Path, head: bytes) -> bool:
    if metrics_folder(path) is None:
        return False
    lines = [line for line in head.splitlines()[:5] if line.strip()]
    return bool(lines) and all(_LINE.match(line) for line in lines)


def run_root(path: Path) -> Path:
    return metrics_folder(path).parent


def read(files: list[Path], names: NameMap) -> Part:
    folder = metrics_folder(files[0])
    rows, epochs = [], None
    for file in files:
        key = file.relative_to(folder).as_posix()
        table = np.loadtxt(file, ndmin=2, usecols=(0, 1, 2))  # timestamp (ms), value, step
        if parse(key).quantity == "epoch":
            epochs = pd.Series(table[:, 1], index=table[:, 2]).groupby(level=0).last().sort_index()
            continue
        rows.extend((step, None, Logged(key), value, stamp / 1000) for stamp, value, step in table)
    if epochs is not None:  # each step takes the epoch logged at or before it
        at = epochs.index.to_numpy(float)
        steps = np.array([row[0] for row in rows], dtype=float)
        found = epochs.to_numpy(float)[np.clip(np.searchsorted(at, steps, side="right") - 1, 0, len(at) - 1)]
        rows = [(s, int(e), k, v, w) for (s, _, k, v, w), e in zip(rows, found)]
    scalars = scalar_table([rows_to_columns(rows)], names, zero_based=True)
    part = Part(scalars, read=list(files), notes=non_finite_note(scalars.table))
    run = folder.parent
    params = {p.relative_to(run / "params").as_posix(): p.read_text(errors="replace").strip()
              for p in sorted((run / "params").rglob("*")) if p.is_file()} if (run / "params").is_dir() else {}
    part.manifest = {"framework": {"name": "mlflow"}, "config": canonical(flatten(params))}
    meta = _meta(run / "meta.yaml")
    status = _STATUS.get(meta.get("status"))
    if status:
        part.manifest["status"] = status
    if meta.get("run_name"):
        part.notes.append(f"MLflow run {meta['run_name']!r} (status {meta.get('status')})")
    return part


def _meta(path: Path) -> dict:
    try:
        meta = bounded_yaml.load(path.read_text(errors="replace"))
    except (OSError, yaml.YAMLError):
        return {}
    return meta if isinstance(meta, dict) else {}
