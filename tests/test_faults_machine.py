"""Every fault in the catalog (`fault_probes.py`) of config values and the machine (full and read-only disks, processes), done for real through the command line: bad input
is one line and exit 2 or is said while the rest is read; no traceback, no hang, no crafted code run, nothing
lost. Probes a module checks in more detail (`tested_in`) run there, not here; `benchmarks/faults.py` runs all.
The catalog is split over two modules so that the parallel workers share it."""

from __future__ import annotations

import pytest
from fault_probes import check_probe, suite_probes

HERE = suite_probes(("config", "writes"))


@pytest.mark.parametrize("probe", HERE, ids=[probe.name for probe in HERE])
def test_fault(probe, fault_materials, tmp_path):
    check_probe(probe, tmp_path, fault_materials)
