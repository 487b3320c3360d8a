"""Trainer throughput against a bare hand-written PyTorch loop: same model, same data, one process.

    python benchmarks/throughput.py [--epochs 3] [--repeats 3] [--set KEY=VALUE ...]

Both loops time only their training steps (validation excluded), run alternately
so machine noise hits both alike, and the ratio of median images/s is printed.
Target: trainer / bare >= 0.95.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ceph_doctor.config import load_config
from ceph_doctor.pipeline import Pipeline, load_splits
from ceph_doctor.train.hooks import Hook
from ceph_doctor.train.loop import Trainer, seed_everything
from ceph_doctor.train.optim import build_optimizer, build_scheduler
from ceph_doctor.train.progress import ProgressHook
from ceph_doctor.train.recorder import Recorder
from ceph_doctor.train.setup import data_for


class StepClock(Hook):
    """Wall time from each epoch's start to its last optimizer step."""

    def __init__(self):
        self.seconds = 0.0
        self.images = 0

    def on_epoch_start(self, **_):
        self.started = time.perf_counter()

    def on_step_end(self, batch_size, **_):
        self.images += batch_size
        self.last = time.perf_counter()

    def on_epoch_end(self, **_):
        self.seconds += self.last - self.started


def trainer_images_per_s(config: dict) -> float:
    clock = StepClock()
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        # The trainer as a user runs it: recorder and progress bar on.
        Trainer(config, run_dir, hooks=[Recorder(run_dir), ProgressHook(), clock]).fit()
    return clock.images / clock.seconds


def bare_images_per_s(config: dict) -> float:
    seed_everything(config["seed"])
    device = torch.device("cpu")
    splits = load_splits(config)
    pipeline = Pipeline.from_config(config, len(splits[0].names), device)
    data = data_for(config, splits, pipeline.codec, device)
    model = pipeline.model
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, len(data.train_loader))
    seconds, images = 0.0, 0
    for epoch in range(1, config["train"]["max_epochs"] + 1):
        data.set_epoch(epoch, config["seed"])
        model.train()
        started = time.perf_counter()
        for batch in data.train_loader:
            heatmaps = model(batch["image"])
            loss = pipeline.loss(heatmaps, batch["targets"], batch["weights"])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            images += len(batch["image"])
        seconds += time.perf_counter() - started
    return images / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    config = load_config(None, [f"train.max_epochs={args.epochs}", "train.val_interval=1000", *args.overrides])

    trainer, bare = [], []
    for _ in range(args.repeats):
        bare.append(bare_images_per_s(config))
        trainer.append(trainer_images_per_s(config))
    ratio = statistics.median(trainer) / statistics.median(bare)
    print(f"device cpu, threads {torch.get_num_threads()}, input {config['data']['input_size']}, "
          f"batch {config['data']['batch_size']}, {args.epochs} epochs x {args.repeats} repeats")
    print(f"bare loop : {statistics.median(bare):8.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in bare)})")
    print(f"trainer   : {statistics.median(trainer):8.1f} images/s  (runs: {', '.join(f'{v:.1f}' for v in trainer)})")
    print(f"ratio trainer/bare: {ratio:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
