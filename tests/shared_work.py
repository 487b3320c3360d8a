"""Work that several test workers need, done once.

Under pytest-xdist every worker is its own process with its own session fixtures, so a fixture that trains
the failure scenarios would train them once per worker. Here the workers share one folder: each piece of
work is guarded by a file lock and marked done when finished. A worker first takes the pieces no other
worker holds, then waits for the rest, so two workers that both need every scenario train half each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from filelock import FileLock, Timeout


def shared_folder(tmp_path_factory, name: str) -> Path:
    """A folder every worker of this test session sees (the session's own temporary folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


def do_once(folder: Path, names: Iterable[str], work: Callable[[str], object]) -> None:
    """`work(name)` for every name, once across all workers; returns when every piece is done."""

    def attempt(name: str, timeout: float) -> None:
        with FileLock(folder / f"{name}.lock", timeout=timeout):
            done = folder / f"{name}.done"
            if not done.exists():
                work(name)
                done.touch()

    held_elsewhere = []
    for name in names:
        try:
            attempt(name, timeout=0)  # one try: another worker already on it means do the next one first
        except Timeout:
            held_elsewhere.append(name)
    for name in held_elsewhere:
        attempt(name, timeout=-1)  # wait for it (or do it, if that worker failed)
