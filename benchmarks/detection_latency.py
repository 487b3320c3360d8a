"""How soon a fault is told: the live doctor against Lightning's and MMEngine's early stopping, on the same runs.

    python benchmarks/detection_latency.py [--size test|full] [--only NAME ...] [--out DIR]

Trains every scenario of examples/scenarios with the live doctor on (its `stop_on` as the scenario sets it) and
reads, for each id the scenario expects: its onset (the epoch the finished run's diagnosis names), the
validation at which the live doctor told it (doctor.jsonl) and how many validations after the onset that was.
Beside it, where early stopping at its default settings would have ended the same run, replayed on its
monitored metric with the frameworks' own classes: Lightning's `EarlyStopping` (patience 3, min_delta 0) and
MMEngine's `EarlyStoppingHook` (patience 5, min_delta 0.1). Early stopping says nothing of why; the doctor names
the fault. On the controls (no expected id), a healthy run should be told no error or warning, and early
stopping should not end it before its last epoch.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ceph_doctor.analyze import analyze_run
from ceph_doctor.engine import load_rules
from ceph_doctor.live_doctor import read_record
from ceph_doctor.scenarios import all_scenarios, run_scenario
from ceph_doctor.store import load_run


def metric_curve(run) -> tuple[list[int], list[float], str]:
    monitor = run.monitor
    rows = run.series(monitor.metric)
    return [int(epoch) for epoch in rows.epoch], [float(value) for value in rows.value], monitor.mode


def lightning_stop(epochs, values, mode) -> int | None:
    """The epoch at which Lightning's EarlyStopping (defaults) would end the run, fed the same validations."""
    try:
        import torch
        from lightning.pytorch.callbacks import EarlyStopping
    except ImportError:
        return None
    stopper = EarlyStopping(monitor="metric", mode=mode)
    for epoch, value in zip(epochs, values):
        stop, _ = stopper._evaluate_stopping_criteria(torch.tensor(value))
        if stop:
            return epoch
    return None


def mmengine_stop(epochs, values, mode) -> int | None:
    """The epoch at which MMEngine's EarlyStoppingHook (defaults) would end the run, fed the same validations."""
    try:
        from mmengine.hooks import EarlyStoppingHook
    except ImportError:
        return None
    hook = EarlyStoppingHook(monitor="metric", rule="less" if mode == "min" else "greater")
    hook.best_score = math.inf if mode == "min" else -math.inf  # what its before_run sets
    hook.wait_count = 0
    for epoch, value in zip(epochs, values):
        stop, _ = hook._check_stop_condition(value)
        if stop:
            return epoch
    return None


def validations_between(epochs: list[int], onset: int | None, told: int) -> str:
    if onset is None:
        return f"@{told}"
    return str(max(sum(1 for epoch in epochs if onset < epoch <= told), 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("full", "test"), default="test")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ceph-doctor-latency-"))
    rules = load_rules()
    table = Table(title=f"detection latency ({args.size} size): validations after the onset")
    for column in ("scenario", "id", "onset", "doctor told at", "after onset", "doctor stopped at",
                   "Lightning ES stops at", "MMEngine ES stops at", "last epoch"):
        table.add_column(column)
    for scenario in all_scenarios():
        if args.only and scenario.name not in args.only:
            continue
        run_dir = run_scenario(scenario, out, args.size)
        run = load_run(run_dir)
        report = analyze_run(run, rules)
        events = read_record(run_dir / "doctor.jsonl")
        told = {}
        for event in events:
            if event["event"] == "found":
                told.setdefault(event["id"], event)
        stopped = next((f"{event['epoch']} ({event['id']})" for event in events if event["event"] == "stopped"), "-")
        epochs, values, mode = metric_curve(run)
        lightning, mmengine = lightning_stop(epochs, values, mode), mmengine_stop(epochs, values, mode)
        stops = [str(lightning or "-"), str(mmengine or "-"), str(epochs[-1])]
        onsets = {diagnosis.id: diagnosis.epoch for diagnosis in report.diagnoses}
        if not scenario.expect:  # a control: what the doctor told it, if anything, while it trained
            serious = [f"{event['id']}@{event['epoch']}" for event in told.values()
                       if event["severity"] in ("error", "warning") and not event.get("final")]
            table.add_row(scenario.name, "(control)", "", ", ".join(serious) or "nothing", "", stopped, *stops)
        for rule_id in scenario.expect:
            event = told.get(rule_id)
            if event is None:
                table.add_row(scenario.name, rule_id, str(onsets.get(rule_id, "")), "never", "", stopped, *stops)
                continue
            when = "at the end" if event.get("final") else str(event["epoch"])
            after = "" if event.get("final") else validations_between(epochs, onsets.get(rule_id), event["epoch"])
            table.add_row(scenario.name, rule_id, str(onsets.get(rule_id, "")), when, after, stopped, *stops)
    Console(width=200).print(table)
    print(f"runs in {out}")


if __name__ == "__main__":
    main()
