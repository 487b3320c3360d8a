"""`load_run`: the Python door to a run directory, also while it is being written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceph_doctor.errors import UserInputError
from ceph_doctor.store import layout
from ceph_doctor.store.columns import PredictionTable
from ceph_doctor.store.salvage import read_predictions, read_scalars
from ceph_doctor.store.scalars import ScalarTable, TagSeries, last_per

if TYPE_CHECKING:
    import pandas as pd


class RunFormatError(UserInputError):
    """The directory is not a ceph-doctor run this version can read."""


class Run:
    """One run: its manifest and its records.

    `scalars`: a frame of step, epoch, tag, value, wall_time; `series(tag)` gives one
    tag's rows as arrays. `predictions`: a frame of one row per validation × split × image ×
    landmark (see `layout.PREDICTION_COLUMNS`); `prediction_table`, the same rows as numpy
    columns (what the signals read: pandas is imported only when a frame is asked for).
    `memo` keeps what signals derive from the records, so that a curve read by several
    signals is computed once.
    """

    def __init__(
        self,
        path: str | Path,
        manifest: dict[str, Any],
        scalars: "pd.DataFrame | ScalarTable",
        predictions: "pd.DataFrame | PredictionTable | None" = None,
        source: str = "ceph-doctor",
        notes: list[str] | None = None,
        names: list | None = None,
        unread: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.table = scalars if isinstance(scalars, ScalarTable) else ScalarTable(frame=scalars)
        self.prediction_table = (predictions if isinstance(predictions, PredictionTable)
                                 else PredictionTable.no_rows() if predictions is None
                                 else PredictionTable.from_frame(predictions))
        self.source = source
        self.notes = list(notes or [])
        self.names = list(names or [])  # an imported run: how each logged name was read (importers.names.NameRow)
        self.unread = list(unread or [])  # what could not be read (damaged lines, files): every report says it
        self.memo: dict[Any, Any] = {}
        self.reference: "Run | None" = None  # a finished run this one races against (`analyze.with_reference`)
        self.reference_problem: str | None = None  # why the reference it names could not be read

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, source={self.source!r})"

    @property
    def scalars(self) -> "pd.DataFrame":
        return self.table.frame

    @scalars.setter
    def scalars(self, frame: "pd.DataFrame") -> None:
        self.table = ScalarTable(frame=frame)
        self.memo.clear()

    @property
    def predictions(self) -> "pd.DataFrame":
        return self.prediction_table.frame()

    @predictions.setter
    def predictions(self, frame: "pd.DataFrame") -> None:
        self.prediction_table = PredictionTable.from_frame(frame)
        self.memo.clear()

    def series(self, tag: str) -> TagSeries:
        """`tag`'s rows as arrays, in step order (empty when the run never logged it)."""
        return self.table.series(tag)

    @property
    def tags(self) -> list[str]:
        return self.table.tags

    @property
    def last_epoch(self) -> int | None:
        return self.table.last_epoch

    @property
    def monitor(self):
        """The metric this run is judged on (`store.monitor.Monitor`), or None when it logged none."""
        from ceph_doctor.store.monitor import monitor_of

        return monitor_of(self)

    @property
    def axis(self) -> str:
        """"epoch", or "iteration" for a run that validates every N iterations (its epochs count validations)."""
        return self.manifest.get("axis", "epoch")

    @property
    def epoch_offset(self) -> int:
        """What was added to the epochs of the log this run was read from: 1 where the log counts from 0
        (Lightning, Keras), so that epoch 1 is the first epoch in every run; 0 for ceph-doctor's own runs."""
        return int(self.manifest.get("epoch_offset", 0))

    @property
    def landmarks(self) -> list[str]:
        return list(self.manifest.get("landmarks", []))

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest.get("config", {})

    def until(self, epoch: int) -> "Run":
        """The run as it stood at the end of `epoch`: what an analysis then would have seen."""
        predictions = self.prediction_table
        earlier = Run(
            self.path,
            self.manifest,
            self.table.until(epoch),
            predictions.rows(predictions["epoch"] <= epoch) if "epoch" in predictions else predictions,
            self.source,
            self.notes,
            self.names,
            self.unread,
        )
        earlier.reference, earlier.reference_problem = self.reference, self.reference_problem
        return earlier

    def scalar(self, tag: str) -> "pd.Series":
        """One tag's values indexed by step (the last value wins if a step repeats)."""
        import pandas as pd

        rows = self.series(tag)
        steps, values = last_per(rows.step, rows.value)
        return pd.Series(values, index=pd.Index(steps, name="step"), name="value")


def no_predictions() -> "pd.DataFrame":
    """An empty predictions frame, for the importers that build theirs with pandas."""
    import pandas as pd

    return pd.DataFrame(columns=list(layout.PREDICTION_COLUMNS))


def load_run(path: str | Path, cache: dict | None = None) -> Run:
    """`cache`: a dict kept between reads of a run being written (the live doctor, `watch`), so that each
    validation's prediction file is read once."""
    run_dir = Path(path)
    manifest = read_manifest(run_dir)
    scalars, unread = read_scalars(run_dir)
    predictions, unread_predictions = read_predictions(run_dir, cache)
    return Run(run_dir, manifest, scalars, predictions, unread=[*unread, *unread_predictions])


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, checked for the fields every reader relies on; RunFormatError in one line if not."""
    manifest_path = run_dir / layout.MANIFEST
    if not manifest_path.is_file():
        raise RunFormatError(f"{run_dir}: not a ceph-doctor run (no {layout.MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFormatError(f"{manifest_path}: unreadable manifest ({error})") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int):
        raise RunFormatError(f"{manifest_path}: no schema_version")
    if version > layout.SCHEMA_VERSION:
        raise RunFormatError(
            f"{manifest_path}: run store schema version {version} is newer than this ceph-doctor reads "
            f"(up to {layout.SCHEMA_VERSION}); upgrade ceph-doctor to open it"
        )
    _check_manifest(manifest, manifest_path)
    return manifest


# Fields every reader relies on, and the type each must have where present.
_MANIFEST_TYPES = {"config": dict, "landmarks": list, "dataset": dict, "model": dict, "status": str, "monitor": dict}


def _check_manifest(manifest: Any, path: Path) -> None:
    """One line naming the field, rather than a traceback wherever a reader meets the wrong type."""
    if not isinstance(manifest, dict):
        raise RunFormatError(f"{path}: not a JSON object")
    for field, kind in _MANIFEST_TYPES.items():
        if manifest.get(field) is not None and not isinstance(manifest[field], kind):
            raise RunFormatError(f"{path}: '{field}' should be a {'JSON object' if kind is dict else kind.__name__}, "
                                 f"found {type(manifest[field]).__name__}")
    if not all(isinstance(name, str) for name in manifest.get("landmarks") or []):
        raise RunFormatError(f"{path}: 'landmarks' should be a list of names")
