"""The run store: what a run leaves on disk, and how to read it back."""

from typing import TYPE_CHECKING, Any

from ceph_doctor.store.reader import Run, RunFormatError, load_run

if TYPE_CHECKING:
    from ceph_doctor.store.writer import RunWriter

__all__ = ["Run", "RunFormatError", "RunWriter", "load_run"]


def __getattr__(name: str) -> Any:
    # The writer (pandas, file locks) on first use: reading a run, as `analyze` does, never needs it.
    if name == "RunWriter":
        from ceph_doctor.store.writer import RunWriter

        return RunWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
