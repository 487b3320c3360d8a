"""`ceph-doctor watch`: follow a run another process is writing, and tell each finding as it appears."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ceph_doctor.doctor import tell
from ceph_doctor.errors import UserInputError


def watch_command(path: Path, interval: float, idle: float, rule_dirs: list[Path], maps: list[str],
                  reference: Path | None = None) -> int:
    from ceph_doctor.analyze import read_reference
    from ceph_doctor.engine import load_rules
    from ceph_doctor.importers.names import NameMap
    from ceph_doctor.watch import Watch, findings

    if not interval > 0:
        raise UserInputError(f"--interval {interval}: expected a number of seconds > 0")
    if not idle > 0:
        raise UserInputError(f"--idle {idle}: expected a number of seconds > 0")
    console = Console(highlight=False, soft_wrap=True)
    names = NameMap.parse(maps)
    against = read_reference(reference, names) if reference is not None else None
    watch = Watch(path, load_rules(list(rule_dirs)), names, idle=idle, reference=against)
    said_waiting = False
    # On a terminal the status lines replace one another in place, under the findings; in a pipe or a file
    # each is a line of its own, so the log of a watch reads as the run went.
    live = console.status("") if console.is_terminal else contextlib.nullcontext()
    latest = None  # the newest status line
    with live as status:
        while True:
            news = watch.poll()
            if news.waiting and not said_waiting:
                console.print(f"[dim]waiting for a run at {escape(str(path))}[/]")
                said_waiting = True
            several = len(watch.followed) > 1
            for run_path, finding, cleared, epoch in findings(news):
                where = f"[dim]{escape(run_path)}[/] " if several else ""
                console.print(where + tell(finding, epoch, cleared=cleared))
            for line in news.status:
                latest = line
                if status is not None:
                    status.update(f"[dim]{escape(line)}[/]")
                else:
                    console.print(f"[dim]{escape(line)}[/]")
            if watch.finished:
                break
            time.sleep(interval)
    if status is not None and latest:  # the last status stays on screen
        console.print(f"[dim]{escape(latest)}[/]")
    if not watch.followed:
        raise UserInputError(f"{path}: no run appeared within {idle:g} s (a ceph-doctor run directory, or other "
                             "tools' logs: TensorBoard, MMEngine, CSV)")
    console.print("[dim]the run has ended[/]" if len(watch.followed) == 1 else "[dim]the runs have ended[/]")
    return 0
