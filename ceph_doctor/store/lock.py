"""One writer per run directory.

Two processes writing one run lose data: a `--resume` rewrites `scalars.csv` while the first process appends to
the file it replaced, and two trainings started with the same `--name` both pass an "already exists" check and
write every row twice. The writer therefore holds an exclusive lock on `RUN/.writer.lock` (the `filelock`
package: an OS lock, dropped by the kernel when the process dies, so a killed run never stays locked) from
before it looks at the directory until it closes the run. Beside the lock, `RUN/.writer` says who holds it, so
the second writer's one line can name the process to wait for.

Readers never lock: a run being written stays readable at any moment (see `writer.py`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from ceph_doctor.errors import UserInputError

LOCK_FILE = ".writer.lock"
HOLDER_FILE = ".writer"


class RunLocked(UserInputError):
    """Another process is writing this run."""


class RunLock:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._lock: FileLock | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None and self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock, or raise RunLocked naming the holder; creates the run directory if needed."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.run_dir / LOCK_FILE, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunLocked(f"{self.run_dir}: {holder(self.run_dir)} is writing this run; wait for it to end "
                            "(or stop it) before training or resuming here") from None
        self._lock = lock
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        (self.run_dir / HOLDER_FILE).write_text(json.dumps(record) + "\n")

    def release(self) -> None:
        if self._lock is not None:
            (self.run_dir / HOLDER_FILE).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def running_status(run_dir: Path) -> str:
    """What "running" in a manifest really means: a live writer, or one that died before it could say how it ended.

    Read from the holder file alone, never by touching the lock (a reader that probed it could make a writer
    starting that very moment believe the run taken). A clean end removes the holder file; SIGKILL or a failed
    write (a full disk) leaves the status at "running" with the file behind or without a final status at all.
    """
    try:
        record = json.loads((run_dir / HOLDER_FILE).read_text())
        pid, host = int(record["pid"]), str(record["host"])
    except FileNotFoundError:
        return "stopped without recording how it ended (its writer is gone: a failed write, or a crash); resumable"
    except (OSError, ValueError, KeyError, TypeError):
        return "running, or stopped without recording how it ended"
    if host != socket.gethostname():
        return f"running on {host} (process {pid}), or stopped there without recording how it ended"
    if _alive(pid):
        return f"running (process {pid})"
    return f"stopped without recording how it ended (process {pid} is gone: killed or crashed); resumable"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def holder(run_dir: Path) -> str:
    """Who holds the lock, as the holder wrote it: "process 4121 on gpu-01 (since 2026-12-06 14:02:11)"."""
    try:
        record = json.loads((run_dir / HOLDER_FILE).read_text())
        return f"process {int(record['pid'])} on {record['host']} (since {record['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
