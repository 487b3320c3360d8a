"""`ceph-doctor sanity overfit`: train the configured pipeline on one image and say where it breaks.

Registered in cli/main.py with `app.add_typer(sanity_app, name="sanity")`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ceph_doctor.errors import UserInputError

DEFAULT_STEPS = 300  # = ceph_doctor.sanity.DEFAULT_STEPS, written out to keep torch out of `--help`
STATUS_STYLES = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skipped": "[dim]skipped[/]"}

sanity_app = typer.Typer(
    epilog="Example: ceph-doctor sanity overfit --steps 300",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@sanity_app.callback()
def sanity() -> None:
    """Sanity checks of a training pipeline."""
    # A callback keeps `sanity` a group: with one command and none, typer would run `overfit` as `sanity`.


@sanity_app.command("overfit", epilog="Example: ceph-doctor sanity overfit --steps 300")
def overfit(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file (defaults fill the rest)."),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", "-s", help="Override one key, e.g. --set codec.sigma=2 (repeatable)."
    ),
    image: Optional[str] = typer.Option(
        None, "--image", help="An image id of the configured data, or a file its annotations name "
        "(default: the first training image)."
    ),
    steps: int = typer.Option(DEFAULT_STEPS, "--steps", min=10, help="Training steps on the one image."),
    out: Path = typer.Option(
        Path("sanity-overfit.png"), "--out", "-o", help="PNG of the image with truth and predictions."
    ),
) -> None:
    """Train the configured pipeline on one image until it is perfect, then check each stage of inference.

    Exit 0 when every stage passes; 1 at a failure, naming the first failing stage's likely cause and fix.
    """
    from ceph_doctor.cli.exit_codes import ExitCode

    if out.suffix.lower() != ".png":  # checked before training, not after it
        raise UserInputError(f"--out {out}: the picture is a PNG; give a path ending in .png")
    report, pipeline = run_overfit(config, set_ or [], image, steps)
    console = Console()
    console.print(stage_table(report, pipeline.image_id))
    console.print(verdict_text(report), highlight=False)
    write_picture(pipeline, report, out)
    console.print(f"picture: {out}", highlight=False)
    raise typer.Exit(ExitCode.OK if report.passed else ExitCode.DIAGNOSED)


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


def stage_table(report, image_id: str) -> Table:
    table = Table(title=f"overfit on {image_id}: {report.steps} steps in {report.seconds:.1f} s", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("stage", ratio=2)
    table.add_column("result", no_wrap=True)
    table.add_column("evidence", ratio=3)
    for index, stage in enumerate(report.stages, 1):
        status = STATUS_STYLES[stage.status]
        if stage.after_failure and stage.passed is False:
            status += " [dim](after a failure)[/]"
        table.add_row(str(index), stage.name, status, stage.message)
    return table


def verdict_text(report) -> str:
    failure = report.first_failure
    pck = report.evidence.metric_value
    if failure is None:
        return f"[bold green]passed[/]: PCK@0.05 {pck:.1f}% on the training image; every stage checks out."
    index = report.stages.index(failure) + 1
    lines = [f"[bold red]fails at stage {index}[/] ({failure.name})",
             f"  likely cause: {failure.likely_cause}", f"  fix: {failure.fix}"]
    if failure.diagnosis:
        lines.append(f"  more: ceph-doctor rules explain {failure.diagnosis}")
    return "\n".join(lines)


def write_picture(pipeline, report, out: Path) -> None:
    import cv2

    from ceph_doctor.data.visualize import draw_landmarks

    image, truth, pred = pipeline.original_image, report.evidence.truth[0], report.evidence.pred_original[0]
    zoom = max(1.0, 640.0 / image.shape[1])  # small images are enlarged so the marks stay legible
    if zoom > 1.0:
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        truth, pred = (truth + 0.5) * zoom - 0.5, (pred + 0.5) * zoom - 0.5
    canvas = draw_landmarks(image, truth, pred)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(str(out), canvas)
    except (OSError, cv2.error):
        written = False
    if not written:
        raise UserInputError(f"--out {out}: cannot write the picture there")
