"""Every fault in the catalog (`fault_probes.py`) of config values and the machine (full and read-only disks, processes), done for real through the command line: bad input
is one line and exit 2 or is said while the rest is read; no traceback, no hang, no crafted code run, nothing
lost. Probes a module checks in more detail (`tested_in`) run there, not here; `benchmarks/faults.py` runs all."""

from __future__ import annotations

import pytest
from fault_probes import PROBES, can_mount, run_probe

GROUPS = ("config", "writes")
HERE = [probe for probe in PROBES if probe.group in GROUPS and not probe.tested_in]


@pytest.mark.parametrize("probe", HERE, ids=[probe.name for probe in HERE])
def test_fault(probe, fault_materials, tmp_path):
    if probe.needs_mount and not can_mount():
        pytest.skip("this machine does not let the tests mount a tmpfs")
    outcome = run_probe(probe, tmp_path, fault_materials)
    assert outcome.verdict == "ok", f"{outcome.verdict}\n{outcome.output[-3000:]}"
