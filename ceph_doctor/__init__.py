"""ceph-doctor: training diagnostics and debugging for landmark-detection models."""

__version__ = "0.1.0"

from ceph_doctor.store import load_run  # noqa: E402

__all__ = ["__version__", "load_run"]
