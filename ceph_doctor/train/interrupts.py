"""Termination signals end a training as Ctrl-C does.

A run stopped by SIGTERM (a scheduler's time limit, `kill`, `docker stop`) or SIGHUP (the terminal closed) used to
die where it stood, its manifest saying "running" for ever. While a training runs, these signals raise
`Terminated`, a KeyboardInterrupt: the loop's own handling then records the run as interrupted, keeps every
completed validation, and `--resume` continues it. The handlers before are put back when the training ends.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.run_dir = None  # the run it stopped, where the caller knows it


@contextmanager
def interrupted_by_termination() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` in the main thread (elsewhere: no change, as
    Python delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, _frame):
        raise Terminated(signum)

    previous = {number: signal.signal(number, raise_terminated) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
