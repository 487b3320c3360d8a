"""Train every failure scenario, diagnose it, repair it with the emitted config, and tabulate.

    python benchmarks/diagnosis.py [--size full|test] [--only NAME ...] [--out DIR]

For each scenario in examples/scenarios: the ids expected and found, false
positives (ids found but not expected, errors and warnings only), the
detection latency of each expected id (validations between the fault's onset —
the diagnosis's own epoch — and the first validation at which analyzing the
run so far already gives that id), and the validation MRE before and after
training again with `--emit-config`'s config, with whether the id is gone.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ceph_doctor.analyze import analyze_run
from ceph_doctor.engine import load_rules, repaired_config
from ceph_doctor.scenarios import all_scenarios, run_scenario
from ceph_doctor.store import load_run
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


def first_firing_epoch(run, rule_id: str, rules) -> int | None:
    """The earliest validation epoch at which the analysis of the run so far gives `rule_id`."""
    epochs = sorted(run.predictions["epoch"].unique()) if not run.predictions.empty else []
    for epoch in epochs:
        if any(d.id == rule_id for d in analyze_run(run.until(epoch), rules).diagnoses):
            return int(epoch)
    return None


def latency(run, diagnosis, rules) -> str:
    onset = diagnosis.epoch
    fired = first_firing_epoch(run, diagnosis.id, rules)
    if fired is None:
        return "-"
    if onset is None:
        return f"@{fired}"
    epochs = sorted(run.predictions["epoch"].unique())
    between = sum(1 for epoch in epochs if onset <= epoch <= fired) - 1  # validations after the onset's own
    return str(max(between, 0))


def final_mre(run) -> float:
    tag = "val/mre_mm" if (run.scalars["tag"] == "val/mre_mm").any() else "val/mre_px"
    values = run.scalar(tag)
    return float(values.iloc[-1]) if len(values) else np.nan


def loss_ratios(report) -> str:
    """A sequence decoder's autoregressive / teacher-forced loss (fixed training images, validation)."""
    signals = report.signals.values
    found = [signals.get(name) for name in ("sequence.ar_tf_ratio_train", "sequence.ar_tf_ratio")]
    return "/".join(f"{signal.value:.2f}" if signal else "-" for signal in found) if any(found) else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("full", "test"), default="full")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ceph-doctor-diagnosis-"))
    rules = load_rules()
    console = Console(width=200)
    table = Table(title=f"diagnosis benchmark ({args.size} size)")
    for column in ("scenario", "expected", "found", "false positives", "latency (validations)",
                   "MRE before", "MRE after", "AR/TF loss train/val before", "after", "gone after fix", "minutes"):
        table.add_column(column)

    for scenario in all_scenarios():
        if args.only and scenario.name not in args.only:
            continue
        started = time.perf_counter()
        run = load_run(run_scenario(scenario, out, args.size))
        report = analyze_run(run, rules)
        found = {d.id: d for d in report.diagnoses if d.severity in ("error", "warning")}
        false_positives = sorted(set(found) - set(scenario.expect))
        latencies = ", ".join(
            f"{rule_id} {latency(run, found[rule_id], rules)}" for rule_id in scenario.expect if rule_id in found
        )
        before, after, gone = final_mre(run), "", ""
        ratios_before, ratios_after = loss_ratios(report), ""
        if scenario.expect:
            repaired, _ = repaired_config(run.config, report.diagnoses)
            rerun_dir = out / f"{scenario.name}-repaired"
            shutil.rmtree(rerun_dir, ignore_errors=True)
            Trainer(repaired, rerun_dir, hooks=[Recorder(rerun_dir)]).fit()
            rerun = load_run(rerun_dir)
            after = f"{final_mre(rerun):.2f}"
            rerun_report = analyze_run(rerun, rules)
            ratios_after = loss_ratios(rerun_report)
            left = {d.id for d in rerun_report.diagnoses} & set(scenario.expect)
            gone = "yes" if not left else f"no: {', '.join(sorted(left))}"
        table.add_row(
            scenario.name,
            ", ".join(scenario.expect) or "(none)",
            ", ".join(sorted(found)) or "(none)",
            ", ".join(false_positives) or "0",
            latencies,
            f"{before:.2f}",
            after,
            ratios_before,
            ratios_after,
            gone,
            f"{(time.perf_counter() - started) / 60:.1f}",
        )
        console.print(table)  # after each scenario, so a long run shows progress
    console.print(f"runs in {out}")


if __name__ == "__main__":
    main()
