"""What each training framework calls the canonical config keys, one module and one two-way table each:
read by the importers and the integrations, written back by the report as the line a user edits."""

from __future__ import annotations

from types import ModuleType


def for_run(run) -> ModuleType | None:
    """The framework module of a run: the one its manifest names (`framework.name`), else the one its
    source is (an MMEngine work dir's), else None."""
    from ceph_doctor.frameworks import lightning, mmengine

    known = {module.NAME: module for module in (mmengine, lightning)}
    name = ((getattr(run, "manifest", None) or {}).get("framework") or {}).get("name")
    return known.get(name) or known.get(getattr(run, "source", None))
