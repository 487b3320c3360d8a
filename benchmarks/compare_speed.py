"""What comparing two checkpoints costs beyond reading them: `compare` without data against two loads.

    python benchmarks/compare_speed.py [--width 32] [--repeats 5] [--out]

Builds two HRNet state dicts (B = A plus noise on every floating tensor, as a
training run would leave it), saves them as plain state dicts, then times in
one process: loading both (`load_checkpoint`, weights only), and the full
comparison without data (load both, weight diff, terminal report rendered to
a buffer). Runs alternate after a warm-up, so the page cache and imports treat
both alike. Target: ratio <= 2. Both the ratio of medians and of best runs are
printed: on a machine shared with other work the median carries the others' load
(multi-threaded torch kernels stall when a thread is descheduled), while the
best run is the cost of the work itself. `--out` also times writing summary.md, the CSV
table and the weight-change figure (matplotlib), reported apart.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from ceph_doctor.compare import compare_checkpoints
from ceph_doctor.compare.pictures import write_pictures
from ceph_doctor.compare.report import print_report, write_report
from ceph_doctor.models import build_model, count_parameters
from ceph_doctor.store.checkpoint import load_checkpoint


def make_checkpoints(folder: Path, width: int) -> tuple[Path, Path, int]:
    torch.manual_seed(0)
    model = build_model("hrnet", 19, width=width)
    state_a = model.state_dict()
    state_b = {
        name: tensor + 1e-3 * torch.randn_like(tensor) if tensor.is_floating_point() else tensor.clone()
        for name, tensor in state_a.items()
    }
    path_a, path_b = folder / "a.pth", folder / "b.pth"
    torch.save(state_a, path_a)
    torch.save(state_b, path_b)
    return path_a, path_b, count_parameters(model)


def load_both(path_a: Path, path_b: Path) -> float:
    started = time.perf_counter()
    load_checkpoint(path_a)
    load_checkpoint(path_b)
    return time.perf_counter() - started


def compare_without_data(path_a: Path, path_b: Path, out: Path | None = None) -> float:
    started = time.perf_counter()
    comparison = compare_checkpoints(path_a, path_b)
    print_report(comparison, Console(file=io.StringIO(), width=120))
    if out is not None:
        write_report(comparison, out, write_pictures(comparison, out))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", action="store_true", help="also time writing the --out folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path_a, path_b, parameters = make_checkpoints(Path(folder), args.width)
        megabytes = (path_a.stat().st_size + path_b.stat().st_size) / 2**20
        load_both(path_a, path_b)  # warm-up: page cache, lazy imports
        compare_without_data(path_a, path_b)
        loads, compares, with_out = [], [], []
        for repeat in range(args.repeats):
            loads.append(load_both(path_a, path_b))
            compares.append(compare_without_data(path_a, path_b))
            if args.out:
                with_out.append(compare_without_data(path_a, path_b, Path(folder) / f"out{repeat}"))

    load, compare = statistics.median(loads), statistics.median(compares)
    best_load, best_compare = min(loads), min(compares)
    print(f"HRNet-W{args.width}: {parameters:,} parameters, two files of {megabytes:.0f} MiB together, "
          f"{args.repeats} repeats, {torch.get_num_threads()} threads")
    print(f"load both          : {load:7.3f} s  (runs: {', '.join(f'{v:.3f}' for v in loads)})")
    print(f"compare, no data   : {compare:7.3f} s  (runs: {', '.join(f'{v:.3f}' for v in compares)})")
    print(f"ratio compare/load : {compare / load:.2f} of medians, "
          f"{best_compare / best_load:.2f} of best runs  (target <= 2)")
    if with_out:
        print(f"compare with --out : {statistics.median(with_out):7.3f} s  "
              "(summary.md, weights.csv, weight_change.png)")


if __name__ == "__main__":
    main()
