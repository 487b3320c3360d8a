"""The training-label check against labelling bugs whose answer is known.

Trains the scenario that corrupts training labels on purpose (examples/scenarios/wrong_labels.yaml: two
neighbouring landmarks swapped on part of the images, one landmark moved on another part) and the healthy control, then scores the suspects `label-noise` lists against the labels the fault
really changed (`pipeline.with_wrong_labels`): precision (suspects that are wrong) and recall (wrong labels
found), and the swapped pairs named.

    python benchmarks/labels.py [--size test|full]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ceph_doctor import load_run
from ceph_doctor.data.sources import read_splits
from ceph_doctor.pipeline import with_wrong_labels
from ceph_doctor.scenarios import SCENARIO_FOLDER, load_scenario, run_scenario
from ceph_doctor.signals.base import MissingInput
from ceph_doctor.signals.landmark_kinds import training_label_check

NAMES = ("wrong_labels", "healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("test", "full"), default="test")
    size = parser.parse_args().size
    print(f"{'scenario':16s} {'labels':>6s} {'wrong':>5s} {'found':>5s} {'right':>5s} {'precision':>9s} "
          f"{'recall':>6s} {'train s':>7s}  swapped pairs named")
    with tempfile.TemporaryDirectory() as folder:
        for name in NAMES:
            scenario = load_scenario(SCENARIO_FOLDER / f"{name}.yaml")
            config = scenario.config(size)
            start = time.perf_counter()
            run = load_run(run_scenario(scenario, Path(folder), size=size))
            seconds = time.perf_counter() - start
            train, _ = read_splits(config)
            _, wrong = with_wrong_labels(train, config)
            try:
                check = training_label_check(run)
            except MissingInput as why:  # the healthy control records 8 training images: too few to judge
                print(f"{name:16s} not checked: {why}")
                continue
            checked = set((run.manifest.get("dataset") or {}).get("train_subset_ids") or [])
            wrong = {pair for pair in wrong if not checked or pair[0] in checked}  # only what the check saw
            found = set(check.pairs)
            right = len(found & wrong)
            precision = f"{right / len(found):.2f}" if found else "-"
            recall = f"{right / len(wrong):.2f}" if wrong else "-"
            swapped = "; ".join(f"{a} ↔ {b} on {len(images)} images" for (a, b), images in check.swapped.items())
            print(f"{name:16s} {check.images * len(run.manifest['landmarks']):6d} {len(wrong):5d} {len(found):5d} "
                  f"{right:5d} {precision:>9s} {recall:>6s} {seconds:7.1f}  {swapped or '-'}")


if __name__ == "__main__":
    main()
