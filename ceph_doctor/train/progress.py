"""What a person watching `ceph-doctor train` sees: a progress bar, then a table."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ceph_doctor.train.hooks import Hook

# The metrics shown in the table, in this order, when the run has them.
SHOWN = ("loss", "mre_mm", "mre_px", "sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm", "pck@0.05", "nme")


class ProgressHook(Hook):
    def __init__(self, console: Console | None = None, refresh_every: int = 5):
        self.console = console or Console(stderr=True)
        self.refresh_every = refresh_every
        self.history: list[dict[str, float]] = []

    def on_train_start(self, config, start_epoch, steps_per_epoch, is_main=True, **_: Any) -> None:
        self.active = is_main
        if not self.active:
            return
        epochs = config["train"]["max_epochs"]
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[val]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task(
            "train",
            total=epochs * steps_per_epoch,
            completed=(start_epoch - 1) * steps_per_epoch,
            epoch=start_epoch,
            epochs=epochs,
            loss="-",
            lr="-",
            val="",
        )
        self.progress.start()

    def on_epoch_start(self, epoch, **_: Any) -> None:
        if self.active:
            self.progress.update(self.task, epoch=epoch)

    def on_step_end(self, step, loss, lr, **_: Any) -> None:
        if not self.active:
            return
        if step % self.refresh_every == 0:
            self.progress.update(self.task, advance=1, loss=f"{float(loss):.3g}", lr=f"{lr:.2g}")
        else:
            self.progress.update(self.task, advance=1)

    def on_validation_end(self, epoch, result, best, is_best=False, **_: Any) -> None:
        if not self.active:
            return
        scalars = result.scalars()
        self.history.append({"epoch": epoch, **scalars})
        value = scalars.get(best.metric, math.nan)
        said = " (new best)" if is_best else f" (best {best.value:.3g} at epoch {best.epoch})" if best.epoch else ""
        self.progress.update(self.task, val=f"{best.metric} {value:.3g}{said}")

    def on_train_end(self, status, best, run_dir, stop_reason=None, **_: Any) -> None:
        if not getattr(self, "active", False):
            return
        self.progress.stop()
        if self.history:
            self.console.print(final_table(self.history, best))
        why = f" ({stop_reason})" if stop_reason else ""
        self.console.print(f"[bold]{status}[/]{why}: run written to {run_dir}", highlight=False)


def final_table(history: list[dict[str, float]], best) -> Table:
    """First, best and last validation side by side."""
    first, last = history[0], history[-1]
    best_row = next((row for row in history if row["epoch"] == best.epoch), last)
    table = Table(title="validation", show_lines=False)
    table.add_column("metric")
    for label, row in (("first", first), ("best", best_row), ("last", last)):
        table.add_column(f"{label} (epoch {row['epoch']})", justify="right")
    for split in ("val", "train"):
        for name in SHOWN:
            tag = f"{split}/{name}" if not (split == "train" and name == "loss") else "train/eval_loss"
            if tag in last:
                table.add_row(tag, *(f"{row.get(tag, math.nan):.4g}" for row in (first, best_row, last)))
    # A sequence decoder: the rows above are autoregressive; its teacher-forced loss and error beside them.
    for tag in ("val/loss_tf", "val/mre_mm_tf", "val/mre_px_tf"):
        if tag in last:
            table.add_row(tag, *(f"{row.get(tag, math.nan):.4g}" for row in (first, best_row, last)))
    return table
