"""Every fault in the catalog (tests/fault_probes.py) done for real, and the table of what came of it.

Each probe damages an input the way a hostile or unlucky user would (a torn CSV, a cut TensorBoard file, a
checkpoint that would run code, a YAML bomb, a full disk, SIGTERM, a second writer) and runs the real command
line. A probe passes when the bad input is one line and exit 2, or is said while the rest is read, with no
traceback, no hang and nothing lost. Probes that need to mount a tmpfs are skipped where the machine forbids it.

    python benchmarks/faults.py [--only TEXT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the catalog is the test suite's

from fault_probes import PROBES, make_materials, run_probe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the probes whose name contains this text")
    only = parser.parse_args().only
    probes = [probe for probe in PROBES if only in probe.name]
    outcomes = []
    with tempfile.TemporaryDirectory() as scratch:
        materials = make_materials(Path(scratch))
        for index, probe in enumerate(probes):
            folder = Path(scratch) / f"probe-{index}"
            folder.mkdir()
            outcome = run_probe(probe, folder, materials)
            outcomes.append(outcome)
            print(f"{outcome.verdict:32.32s} {outcome.seconds:5.1f} s  {probe.group:12s} {probe.name}", flush=True)
    print()
    groups = Counter(outcome.probe.group for outcome in outcomes)
    print(f"{'group':12s} {'probes':>6s} {'passed':>6s} {'skipped':>7s} {'data lost':>9s} {'tracebacks':>10s}")
    for group in groups:
        mine = [outcome for outcome in outcomes if outcome.probe.group == group]
        _row(group, mine)
    _row("all", outcomes)


def _row(name: str, outcomes: list) -> None:
    passed = sum(outcome.verdict == "ok" for outcome in outcomes)
    skipped = sum(outcome.verdict == "skipped" for outcome in outcomes)
    lost = sum(outcome.verdict == "data lost" for outcome in outcomes)
    tracebacks = sum(outcome.verdict == "traceback" for outcome in outcomes)
    print(f"{name:12s} {len(outcomes):6d} {passed:6d} {skipped:7d} {lost:9d} {tracebacks:10d}")


if __name__ == "__main__":
    main()
