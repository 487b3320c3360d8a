"""The run store: what a run leaves on disk, and how to read it back."""

from ceph_doctor.store.reader import Run, RunFormatError, load_run
from ceph_doctor.store.writer import RunWriter

__all__ = ["Run", "RunFormatError", "RunWriter", "load_run"]
