"""`ceph-doctor sanity overfit`: train the configured pipeline on one image and say where it breaks.

Registered in cli/main.py with `app.add_command(sanity_app, name="sanity")`.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ceph_doctor.cli.help_text import PATH, CommandGroup, example
from ceph_doctor.errors import UserInputError

DEFAULT_STEPS = 300  # = ceph_doctor.sanity.DEFAULT_STEPS, written out to keep torch out of `--help`

EXAMPLE = example("ceph-doctor sanity overfit --steps 300")


@click.group(cls=CommandGroup, epilog=EXAMPLE, no_args_is_help=True)
def sanity_app() -> None:
    """Sanity checks of a training pipeline."""


@sanity_app.command("overfit", epilog=EXAMPLE)
@click.option("--config", "-c", type=PATH, default=None,
              help="YAML config file (defaults fill the rest).")
@click.option("--set", "-s", "set_", multiple=True, metavar="KEY=VALUE", help="Override one key, e.g. --set codec.sigma=2 (repeatable).")
@click.option("--image", default=None, help="An image id of the configured data, or a file its annotations name "
              "(default: the first training image).")
@click.option("--steps", type=click.IntRange(min=10), default=DEFAULT_STEPS, show_default=True,
              help="Training steps on the one image.")
@click.option("--out", "-o", type=PATH, default=Path("sanity-overfit.png"), show_default=True,
              help="PNG of the image with truth and predictions.")
@click.option("--emit-config", type=PATH, default=None,
              help="At a failure with a config fix, write the config with it applied.")
def overfit(config: Path | None, set_: tuple[str, ...], image: str | None, steps: int, out: Path,
            emit_config: Path | None) -> None:
    """Train the configured pipeline on one image until it is perfect, then check each stage of inference.

    Exit 0 when every stage passes; 1 at a failure, naming the first failing stage's likely cause and fix.
    """
    from ceph_doctor.cli.exit_codes import ExitCode
    from ceph_doctor.report.sanity_view import stage_table, verdict_text, write_picture

    if out.suffix.lower() != ".png":  # checked before training, not after it
        raise UserInputError(f"--out {out}: the picture is a PNG; give a path ending in .png")
    if emit_config is not None and not emit_config.parent.is_dir():
        raise UserInputError(f"--emit-config {emit_config}: no folder {emit_config.parent} to write it in")
    report, pipeline = run_overfit(config, list(set_), image, steps)
    console = Console()
    console.print(stage_table(report, pipeline.image_id))
    console.print(verdict_text(report), highlight=False)
    write_picture(pipeline.original_image, report, out)
    console.print(f"picture: {out}", highlight=False)
    if emit_config is not None:
        write_fixed_config(pipeline.config, report, emit_config, console)
    sys.exit(ExitCode.OK if report.passed else ExitCode.DIAGNOSED)


def write_fixed_config(config: dict, report, path: Path, console: Console) -> None:
    """The checked config with the first failing stage's config fixes applied, for `ceph-doctor train --config`."""
    from ceph_doctor.engine import apply_fixes, emit_config

    failure = report.first_failure
    if failure is None:
        console.print(f"nothing to fix: every stage passed; {path} not written", highlight=False)
        return
    if not failure.fixes:
        console.print(f"no config change fixes this (it is in the pipeline's code: {failure.fix}); "
                      f"{path} not written", highlight=False)
        return
    fixed, changes = apply_fixes(config, failure.fixes)
    emit_config(path, fixed, changes)
    console.print(f"config with {len(changes)} change(s) written to {path}", highlight=False)
    for line in changes:
        console.print(f"  {line}", highlight=False)


def run_overfit(config_path: Path | None, overrides: list[str], image: str | None, steps: int):
    from ceph_doctor.config import load_config
    from ceph_doctor.sanity import ConfiguredPipeline, overfit_check

    config = load_config(config_path, overrides)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("loss {task.fields[loss]}"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with progress:
        task = progress.add_task("preparing", total=steps, loss="-")
        pipeline = ConfiguredPipeline(config, image)
        progress.update(task, description=f"overfitting {pipeline.image_id}")

        def on_step(step: int, loss: float) -> None:
            progress.update(task, completed=step + 1, loss=f"{loss:.3g}")

        with _one_thread_on_cpu(pipeline.device):
            report = overfit_check(pipeline, steps=steps, lr=config["optimizer"]["lr"], on_step=on_step)
    return report, pipeline


@contextmanager
def _one_thread_on_cpu(device):
    """One image is too small a batch to split across threads: on 2 idle cores a second thread saves ~10 %,
    while on cores shared with other jobs its spin-waiting made 300 steps take 500 s instead of 4 s."""
    import torch

    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
