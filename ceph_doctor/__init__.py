"""ceph-doctor: training diagnostics and debugging for landmark-detection models."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_run"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the run store needs numpy and pyarrow, which every command would otherwise pay for
    # at start-up (`ceph-doctor --help` included).
    if name == "load_run":
        from ceph_doctor.store import load_run

        return load_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
