"""How long the command line takes to answer, against the interpreter starting and doing nothing.

Times, as separate processes, in turn for REPEATS rounds (the median of each is printed):

  (i)   `python -c pass`                                   the floor every command pays
  (ii)  `python -m ceph_doctor --help`                     targets: ≤ 0.3 s
  (iii) `python -m ceph_doctor analyze RUN --format json`  on a finished run: ≤ 0.5 s
        the same on a run of 20 validations (reading grows with the run; start-up does not)
  (iv)  `python -c "import numpy, pyarrow.parquet"`       what reading a run store costs at the least
  (v)   `python -c "import pandas"`                        what a pandas frame of the records would add

RUN is a small run of 2 epochs trained here first (seconds), the longer one the same for 20 epochs (under a
minute). The rows print seconds and the ratio to (i).

    python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_RUN = ["data.input_size=[64, 64]", "data.synthetic.render_size=[96, 112]", "data.synthetic.train_images=8",
             "data.synthetic.val_images=4", "data.batch_size=4", "model.channels=8"]


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as folder:
        for name, epochs in (("small", 2), ("longer", 20)):
            train = [sys.executable, "-m", "ceph_doctor", "train", "--out", folder, "--name", name]
            settings = [*SMALL_RUN, f"train.max_epochs={epochs}"]
            subprocess.run([*train, *(item for setting in settings for item in ("--set", setting))], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        analyze = [sys.executable, "-m", "ceph_doctor", "analyze", "--format", "json", "--fail-on", "never"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "ceph-doctor --help": [sys.executable, "-m", "ceph_doctor", "--help"],
            "ceph-doctor analyze RUN --format json": [*analyze, str(Path(folder) / "small")],
            "  the same, 20 validations": [*analyze, str(Path(folder) / "longer")],
            "python -c 'import numpy, pyarrow.parquet'": [sys.executable, "-c", "import numpy, pyarrow.parquet"],
            "python -c 'import pandas'": [sys.executable, "-c", "import pandas"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):  # interleaved, so a busy moment of the machine is shared by all rows
            for name, command in commands.items():
                times[name].append(seconds(command))
    floor = statistics.median(times["python -c pass"])
    print(f"{'command':42s} {'median s':>9s} {'× pass':>7s}   ({repeats} runs each)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:42s} {median:9.3f} {median / floor:7.1f}")


if __name__ == "__main__":
    main()
