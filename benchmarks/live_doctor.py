"""What the live doctor costs: its judging after each validation against the validation itself.

    python benchmarks/live_doctor.py [--epochs 8] [--set KEY=VALUE ...]

Trains the default config (the built-in synthetic data) with the doctor on and times, at each validation, the
validation (both splits evaluated, predictions written) and the doctor's judging of the run so far (reading the
run store, the signals, the rules). Both are timed in the same process, one after the other, so machine noise
hits them alike. Target: the doctor under 2% of a validation. The doctor reads the whole run so far, so its
cost grows with the number of validations: the table shows every one. Beside it, the doctor's share of the
epoch and validation together: what it adds to the training's wall time at one validation per epoch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ceph_doctor.config import load_config
from ceph_doctor import live_doctor
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


def timed(owner, name: str, into: list[float]) -> None:
    original = getattr(owner, name)

    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    config = load_config(None, [f"train.max_epochs={args.epochs}", *args.overrides])
    validations: list[float] = []
    judgings: list[float] = []
    epochs: list[float] = []
    timed(Trainer, "train_one_epoch", epochs)
    timed(Trainer, "validate", validations)  # the validation, its hooks included: the doctor is timed apart below
    timed(live_doctor.RunDoctor, "after_validation", judgings)
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        Trainer(config, run_dir, hooks=[Recorder(run_dir), live_doctor.DoctorHook()]).fit()
    table = Table(title=f"live doctor against a validation ({args.epochs} epochs, default config)")
    for column in ("validation", "validation s (without the doctor)", "doctor s", "doctor / validation",
                   "doctor / (epoch + validation)"):
        table.add_column(column, justify="right")
    for index, (whole, doctor, epoch) in enumerate(zip(validations, judgings, epochs), start=1):
        alone = whole - doctor
        table.add_row(str(index), f"{alone:.3f}", f"{doctor:.3f}", f"{doctor / alone:.1%}",
                      f"{doctor / (epoch + alone):.1%}")
    Console().print(table)
    worst = max(doctor / (whole - doctor) for whole, doctor in zip(validations, judgings))
    print(f"dearest judging: {worst:.1%} of its validation (target < 2%)")


if __name__ == "__main__":
    main()
