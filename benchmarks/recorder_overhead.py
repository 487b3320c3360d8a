"""What recording costs: wall time of `Trainer.fit` with the Recorder against without it.

    python benchmarks/recorder_overhead.py [--epochs 6] [--repeats 3] [--set KEY=VALUE ...]

Default settings (log every 10 steps, validation and training-subset predictions
every epoch, TensorBoard on), fewer epochs than a full run: the cost is per step
and per validation, so the ratio does not depend on the run's length. Runs
alternate so machine noise hits both alike. Target: ratio <= 1.03.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ceph_doctor.config import load_config
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


def fit_seconds(config: dict, record: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        trainer = Trainer(config, run_dir, hooks=[Recorder(run_dir)] if record else [])
        trainer.setup()  # image preparation is the same either way: time the training
        started = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    config = load_config(None, [f"train.max_epochs={args.epochs}", *args.overrides])

    without, with_recorder = [], []
    for _ in range(args.repeats):
        without.append(fit_seconds(config, record=False))
        with_recorder.append(fit_seconds(config, record=True))
    ratio = statistics.median(with_recorder) / statistics.median(without)
    print(f"{args.epochs} epochs x {args.repeats} repeats, log_every {config['train']['log_every']}")
    print(f"without recorder: {statistics.median(without):7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in without)})")
    print(f"with recorder   : {statistics.median(with_recorder):7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in with_recorder)})")
    print(f"ratio with/without: {ratio:.3f}  (target <= 1.03)")


if __name__ == "__main__":
    main()
