"""`ceph-doctor train` and `ceph-doctor samples`: from command-line arguments to a run."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ceph_doctor.config import check_together, defaults, flatten, load_config, parse_override, set_value
from ceph_doctor.errors import UserInputError

console = Console(stderr=True)


def resolve_run_dir(config: dict, out: Path, name: str | None) -> Path:
    if name is None:
        name = f"{config['model']['arch']}-{config['data']['source']}-{time.strftime('%Y%m%d-%H%M%S')}"
    # A name is one folder: "a/b" would silently nest runs, ".." would leave --out.
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise UserInputError(f"--name {name!r}: a run name is one folder name; choose the parent folder with --out")
    run_dir = out / name
    if (run_dir / "manifest.json").exists():
        raise UserInputError(f"{run_dir}: a run already exists here; pass --resume {run_dir} or another --name")
    return run_dir


def resumed_config(run_dir: Path, overrides: list[str]) -> dict:
    """The config a run was started with, plus any `--set` given now (e.g. more epochs), validated again: a
    manifest edited by hand or damaged is one line naming it, not a crash minutes into the resume."""
    from ceph_doctor.store.reader import read_manifest

    if not (run_dir / "manifest.json").is_file():
        raise UserInputError(f"{run_dir}: not a ceph-doctor run (no manifest.json) — nothing to resume")
    recorded = read_manifest(run_dir).get("config")
    origin = str(run_dir / "manifest.json")
    if not isinstance(recorded, dict):
        raise UserInputError(f"{origin}: holds no training config to resume from")
    config = defaults()
    for key, value in flatten(recorded).items():
        set_value(config, key, value, origin=origin)
    for item in overrides:
        key, value = parse_override(item)
        set_value(config, key, value, origin="--set")
    check_together(config, origin)
    return config


def run_training(config_path: Path | None, overrides: list[str], out: Path, name: str | None, resume: Path | None) -> str:
    if resume is not None:
        config, run_dir = resumed_config(resume, overrides), resume
    else:
        config = load_config(config_path, overrides)
        run_dir = resolve_run_dir(config, out, name)
    _check_monitored_metric(config)
    # Only now: a config that cannot run is refused without paying for torch's import.
    from ceph_doctor.live_doctor import DoctorHook
    from ceph_doctor.train.interrupts import Terminated
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.progress import ProgressHook
    from ceph_doctor.train.recorder import Recorder

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("preparing images", total=None)
        trainer = Trainer(
            config,
            run_dir,
            hooks=[Recorder(run_dir), ProgressHook(console), DoctorHook(lambda line: console.print(line, highlight=False))],
            resume=resume is not None,
            prepare_progress=lambda n: bar.advance(task, n),
        )
        trainer.setup()
    try:
        status = trainer.fit().status
    except Terminated as stop:
        stop.run_dir = run_dir  # for the line that says how to continue
        raise
    except OSError as error:  # a full disk, a folder made read-only, a network mount gone
        if not (run_dir / "manifest.json").is_file():
            raise  # nothing written: the one line naming the path says it all
        raise UserInputError(
            f"{error.filename or run_dir}: {error.strerror or error} — training stopped at epoch {trainer.epoch}; "
            f"what was written before stays readable (ceph-doctor analyze {run_dir}) and the run resumes once "
            f"the problem is fixed (ceph-doctor train --resume {run_dir})"
        ) from None
    # Unwrapped, so the line copies whole however long the path.
    console.print(f"next: ceph-doctor analyze {run_dir}", markup=False, highlight=False, soft_wrap=True)
    return status


def _check_monitored_metric(config: dict) -> None:
    """An early-stopping metric that names no metric, refused before any image is prepared (the trainer checks it
    again against what the run logs, for callers of the Python API)."""
    from ceph_doctor.errors import ConfigError
    from ceph_doctor.store.meaning import direction

    metric = config["train"]["early_stopping"]["metric"]
    if metric != "auto" and direction(metric) is None:
        raise ConfigError(f"train.early_stopping.metric: {metric!r} is not a metric (e.g. val/mre_mm, val/loss, "
                          "val/pck@0.05; auto: the run's own choice)")


def write_samples(config_path: Path | None, overrides: list[str], out: Path, count: int) -> list[Path]:
    import cv2

    from ceph_doctor.pipeline import load_splits
    from ceph_doctor.data.visualize import draw_landmarks

    config = load_config(config_path, overrides)
    train_set, _ = load_splits(config)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for record in train_set.records[:count]:
        image = record.pixels()
        path = out / f"{record.image_id}.png"
        cv2.imwrite(str(path), draw_landmarks(image, record.landmarks))
        paths.append(path)
    return paths
