"""`analyze --show-names`: what each logged name of each run was understood as."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ceph_doctor.importers.names import NameRow
from ceph_doctor.printable import printable
from ceph_doctor.store.meaning import parse


def rows_of(run) -> list[NameRow]:
    """The run's names table; a ceph-doctor run's tags are canonical already, read by the same grammar."""
    if run.names:
        return run.names
    return [NameRow(tag, None, tag, parse(tag).describe()) for tag in run.tags]


def render_names(runs, console: Console) -> None:
    for run in runs:
        monitor = run.monitor
        table = Table(title=Text(printable(f"{run.path} ({run.source})")), title_justify="left", show_lines=False)
        for column in ("logged name", "split said", "understood as", "stored as", "note"):
            table.add_column(column, overflow="fold")
        for row in sorted(rows_of(run), key=lambda r: (r.tag is None, r.tag or "", r.logged)):
            stored = row.tag or "—"
            if monitor is not None and row.tag == monitor.metric:
                stored += "  ← monitored"
            # Text, not markup: a logged name is someone else's, `[bold]` and escape sequences included.
            table.add_row(*(Text(printable(cell)) for cell in (row.logged, row.split or "", row.understood, stored,
                                                               row.note)))
        console.print(table)
        console.print(printable(f"monitored: {monitor.metric} ({monitor.why})") if monitor else
                      "monitored: nothing (no validation metric or loss among these names)", highlight=False,
                      markup=False)
