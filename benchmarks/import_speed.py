"""How much slower `ceph-doctor analyze` is on a folder of CSV logs than pandas merely reading them.

Generates RUNS runs of POINTS scalar points each (a plain CSV per run, Lightning-like: an epoch and
a step column, train_loss and lr on every step row, val_loss and val_mre_mm on one row per epoch)
in a temporary folder, then times, in this one process, in turn for REPEATS rounds:

  (i)  pandas: `pd.read_csv` of every file;
  (ii) ceph-doctor: `analyze_paths([folder])` end to end (discover + import + signals + rules).

Prints the best time of each and their ratio (target: ≤ 3).

    python benchmarks/import_speed.py [--runs 100] [--points 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_runs(folder: Path, runs: int, points: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    epochs = 50
    steps_per_epoch = max(1, (points - 2 * epochs) // (2 * epochs))  # 2 per step row, 2 per epoch row
    files = []
    for index in range(runs):
        step = np.arange(1, epochs * steps_per_epoch + 1)
        epoch = (step - 1) // steps_per_epoch  # 0-based, as Lightning writes it
        loss = np.exp(-step / step[-1] * 3) + rng.normal(0, 0.02, len(step))
        lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * step / step[-1]))
        train = pd.DataFrame({"epoch": epoch, "step": step, "train_loss": loss, "lr": lr})
        val_steps = np.arange(1, epochs + 1) * steps_per_epoch
        val = pd.DataFrame({
            "epoch": np.arange(epochs), "step": val_steps,
            "val_loss": np.exp(-np.arange(epochs) / 20) + rng.normal(0, 0.01, epochs),
            "val_mre_mm": 3 * np.exp(-np.arange(epochs) / 15) + 1 + rng.normal(0, 0.05, epochs),
        })
        frame = pd.concat([train, val], ignore_index=True).sort_values(["step", "epoch"], kind="stable")
        run_dir = folder / f"run-{index:03d}"
        run_dir.mkdir(parents=True)
        path = run_dir / "metrics.csv"
        frame[["epoch", "step", "train_loss", "lr", "val_loss", "val_mre_mm"]].to_csv(path, index=False)
        files.append(path)
    return files


def alternated(repeats: int, *works) -> list[float]:
    """The best time of each work over `repeats` rounds, the works taking turns within each round."""
    times = [[] for _ in works]
    for _ in range(repeats):
        for work, spent in zip(works, times):
            start = time.perf_counter()
            work()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from ceph_doctor.analyze import analyze_paths
    from ceph_doctor.engine import load_rules

    load_rules()  # imports and rule parsing are not what is measured
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "logs"
        files = write_runs(folder, args.runs, args.points)
        points = sum(int(pd.read_csv(f).iloc[:, 2:].notna().to_numpy().sum()) for f in files)
        analyzed = len(analyze_paths([folder]))  # a warm-up, and a check; its reports are not kept alive
        assert analyzed == args.runs, f"analyzed {analyzed} runs, expected {args.runs}"
        # Alternated, so that a machine that slows down in the middle slows both down alike.
        pandas_s, doctor_s = alternated(args.repeats, lambda: [pd.read_csv(f) for f in files],
                                        lambda: analyze_paths([folder]))
    print(f"{args.runs} runs, {points} scalar points in all, best of {args.repeats}")
    print(f"pandas read_csv of every file:     {pandas_s:8.3f} s")
    print(f"ceph-doctor analyze_paths, whole:  {doctor_s:8.3f} s")
    print(f"ratio: {doctor_s / pandas_s:.1f}x (target <= 3)")


if __name__ == "__main__":
    main()
