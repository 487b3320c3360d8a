"""What the live doctor costs the training: the time the loop waits for it at each validation, against the
validation itself.

    python benchmarks/live_doctor.py [--epochs 8] [--repeats 3] [--set KEY=VALUE ...]

Trains the default config (the built-in synthetic data) in one process, in turns so that machine noise hits each
alike: with the doctor as it runs by default (`train.doctor.stop_on: never`: it judges in a worker thread while the
next epoch trains), with a doctor that may stop the run (`stop_on: error`: it judges before the training goes on, so
a stop falls at the validation that found it), and without the doctor. At each validation the table shows the
validation (both splits evaluated, predictions written), how long the loop waited for the doctor, and the judging
itself (reading the run store, the signals, the rules), wherever it ran. Target: the loop waits under 2% of a
validation. The doctor reads the whole run so far, so its judging grows with the number of validations. Last, the
median seconds per epoch of each way, validation and doctor included, over `--repeats` turns (the first turn warms
the process up and is left out): what a thread judging beside the training takes from it on this machine's cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ceph_doctor.config import load_config
from ceph_doctor import live_doctor
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


def timed(owner, name: str, into: list[float]):
    """Time every call of owner.name into `into`; returns the undo."""
    original = getattr(owner, name)

    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def train(epochs: int, overrides: list[str], stop_on: str | None) -> dict[str, list[float]]:
    """One training; `stop_on` None: without the doctor."""
    doctor = ["train.doctor.enabled=false"] if stop_on is None else [f"train.doctor.stop_on={stop_on}"]
    config = load_config(None, [f"train.max_epochs={epochs}", *overrides, *doctor])
    times = {"epoch": [], "validation": [], "waited": [], "judging": []}
    undo = [timed(Trainer, "train_one_epoch", times["epoch"]),
            timed(Trainer, "validate", times["validation"]),  # its hooks included: the wait is taken off below
            timed(live_doctor.RunDoctor, "after_validation", times["waited"]),
            timed(live_doctor.RunDoctor, "_judge", times["judging"])]
    try:
        with tempfile.TemporaryDirectory() as folder:
            run_dir = Path(folder) / "run"
            Trainer(config, run_dir, hooks=[Recorder(run_dir), live_doctor.DoctorHook()]).fit()
    finally:
        for restore in undo:
            restore()
    waits = times["waited"] or [0.0] * len(times["validation"])  # without the doctor the loop waits for nothing
    times["validation"] = [whole - waited for whole, waited in zip(times["validation"], waits)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--repeats", type=int, default=3,
                        help="turns of the three ways (the first is a warm-up), each way first in one")
    args = parser.parse_args()
    console = Console()
    ways = ("never", "error", None)
    turns = [{stop_on: train(args.epochs, args.overrides, stop_on) for stop_on in ways[turn:] + ways[:turn]}
             for turn in range(max(2, args.repeats))]  # each way first in its turn
    per_epoch = {stop_on: statistics.median(epoch + validation for turn in turns[1:] for epoch, validation
                                            in zip(turn[stop_on]["epoch"], turn[stop_on]["validation"]))
                 for stop_on in ways}
    for stop_on, times in turns[-1].items():
        if stop_on is None:
            continue
        where = "in its thread" if stop_on == "never" else "before the training goes on"
        table = Table(title=f"stop_on: {stop_on} (judging {where}; {args.epochs} epochs, default config)")
        for column in ("validation", "validation s", "loop waited s", "waited / validation", "judging s",
                       "judging / validation"):
            table.add_column(column, justify="right")
        for index, (alone, waited, judging) in enumerate(zip(times["validation"], times["waited"], times["judging"]),
                                                         start=1):
            table.add_row(str(index), f"{alone:.3f}", f"{waited:.4f}", f"{waited / alone:.1%}", f"{judging:.3f}",
                          f"{judging / alone:.1%}")
        console.print(table)
        worst = max(waited / alone for alone, waited in zip(times["validation"], times["waited"]))
        print(f"stop_on {stop_on}: the loop waited at most {worst:.1%} of a validation (target < 2%)")
    print("median seconds per epoch (training, validation, doctor): "
          + ", ".join(f"{'no doctor' if stop_on is None else 'stop_on ' + stop_on} {seconds:.3f} "
                      f"({seconds / per_epoch[None]:.3f}×)" for stop_on, seconds in per_epoch.items()))


if __name__ == "__main__":
    main()
