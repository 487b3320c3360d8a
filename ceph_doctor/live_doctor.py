"""The doctor inside a training loop: after each validation the run so far is judged from its run store, each
finding is printed once and appended to the run's doctor record (RUN/doctor.jsonl), and under `stop_on` the run
is ended with the finding as its reason (the judging itself: `ceph_doctor.doctor`).

`RunDoctor` is the part every loop shares (ceph-doctor's trainer through `DoctorHook`, the MMEngine hook and
the Lightning callback through `RecorderSession`); each loop stops the run its own way. It reads what the
Recorder wrote, so it comes after the Recorder among a trainer's hooks, and it judges exactly what
`ceph-doctor analyze` or `watch` would read at the end of that validation:

    Trainer(config, run_dir, hooks=[Recorder(run_dir), DoctorHook(say=print)]).fit()
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from rich.markup import escape

from ceph_doctor.doctor import LiveDoctor, Verdict, stop_reason, tell
from ceph_doctor.store import layout
from ceph_doctor.train.hooks import Hook

# How a run ended when its finished analysis is worth telling (not an interruption or a crash: those stop now).
CONCLUDED = ("completed", "early_stopped", "diverged")


def record(path: Path, verdict: Verdict, stopped: bool = False) -> None:
    """Append the verdict's events to a run's doctor record (one JSON object per line)."""
    lines = [finding.to_json("found") for finding in verdict.found]
    lines += [{**finding.to_json("cleared"), "epoch": verdict.epoch} for finding in verdict.cleared]
    if stopped and verdict.stop is not None:
        lines.append({**verdict.stop.to_json("stopped"), "reason": stop_reason(verdict.stop)})
    if lines:
        with open(path, "a", encoding="utf-8") as file:
            file.writelines(json.dumps(line) + "\n" for line in lines)
            file.flush()


def read_record(path: Path) -> list[dict[str, Any]]:
    """A doctor record's events, in order; lines that do not read (a torn last line) are left out."""
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def rich_stderr_say() -> Callable[[str], None]:
    """Lines of rich markup printed on stderr: how the framework adapters tell what the doctor finds."""
    from rich.console import Console

    console = Console(stderr=True)
    return lambda line: console.print(line, highlight=False)


class RunDoctor:
    """The live doctor of one run directory a Recorder writes.

    A doctor that may stop the run (`stop_on` error or warning) judges each validation before the training goes
    on, so a stop falls at the validation that found it however fast the machine is. One that only tells
    (`never`, the default) judges in a worker thread while the next epoch trains: the loop waits for nothing
    (judging a run costs tens of milliseconds of Python, a tenth of a small validation), and each validation is
    still judged as the run stood at its end, in order, so it tells the same findings at the same epochs.
    """

    def __init__(self, run_dir: Path, stop_on: str = "never", say: Callable[[str], None] | None = None,
                 resuming: bool = False):
        self.run_dir = Path(run_dir)
        self.say = say  # prints one line of rich markup; None: print nothing (the record is still kept)
        self.doctor = LiveDoctor(stop_on=stop_on)
        self.cache: dict = {}  # each validation's predictions file is read once
        self.active = True
        self.stopped_by: str | None = None  # the stop reason, once a finding asked to stop
        self.worker = ThreadPoolExecutor(1, "ceph-doctor") if stop_on == "never" else None
        if resuming:  # what was told before the checkpoint holds on; the writer dropped what came after it
            self.doctor.resume_from(read_record(self.run_dir / layout.DOCTOR))

    def after_validation(self, epoch: int | None = None) -> str | None:
        """Judge validation `epoch` (None: the latest the run has), just written; the reason to stop the run,
        when a finding asks for it."""
        if not self.active:
            return None
        if self.worker is not None:
            self.worker.submit(self._judge, epoch)
            return None
        return self._judge(epoch)

    def at_end(self, status: str) -> None:
        """The finished run: what its analysis says that was not told while it trained."""
        if self.worker is not None:
            self.worker.shutdown(wait=True)  # the validations still being judged come first
        if self.active and status in CONCLUDED:
            self._judged(lambda: self._keep(self.doctor.conclude(self._run())))

    def _judge(self, epoch: int | None) -> str | None:
        if not self.active:  # stood down while this validation waited its turn
            return None
        verdict = self._judged(lambda: self._keep(self.doctor.judge(self._run(epoch))))
        if verdict is None:
            return None
        if verdict.stop is not None and self.stopped_by is None:
            self.stopped_by = stop_reason(verdict.stop)
            return self.stopped_by
        return None

    def _run(self, epoch: int | None = None):
        """The run as it stood at the end of validation `epoch`: the training may have written on since."""
        from ceph_doctor.store.reader import load_run

        run = load_run(self.run_dir, self.cache)
        if epoch is not None and (run.last_epoch or 0) > epoch:
            run = run.until(epoch)
        return run

    def _judged(self, judge: Callable[[], Verdict]) -> Verdict | None:
        """A verdict, or None where judging failed: a training is never lost to its doctor. The failure is said
        once and the doctor stands down for the rest of the run; `ceph-doctor analyze` still reads the run."""
        try:
            return judge()
        except Exception as error:  # noqa: BLE001 (whatever it is, the training goes on)
            self.active = False
            if self.say is not None:
                self.say(f"[yellow]doctor: could not judge this run ({escape(f'{type(error).__name__}: {error}')}); "
                         "training goes on without it[/]")
            return None

    def _keep(self, verdict: Verdict) -> Verdict:
        """Print the verdict's news and append it to the run's doctor record (a record that cannot be written
        stands the doctor down, as a failed judging does: in its thread nobody else would hear of it)."""
        if self.say is not None:
            for finding in verdict.found:
                self.say(tell(finding))
            for finding in verdict.cleared:
                self.say(tell(finding, verdict.epoch, cleared=True))
        record(self.run_dir / layout.DOCTOR, verdict, stopped=verdict.stop is not None)
        return verdict


class DoctorHook(Hook):
    """`RunDoctor` in ceph-doctor's trainer, set by `train.doctor` (enabled, stop_on)."""

    def __init__(self, say: Callable[[str], None] | None = None):
        self.say = say
        self.doctor: RunDoctor | None = None

    def on_train_start(self, config, run_dir, resume_after=None, is_main=True, **_: Any) -> None:
        settings = config["train"].get("doctor") or {}
        written = (Path(run_dir) / layout.MANIFEST).is_file()  # no Recorder, no run store: nothing to judge
        self.doctor = None
        if is_main and settings.get("enabled", True) and written:
            self.doctor = RunDoctor(run_dir, settings.get("stop_on", "never"), self.say, resume_after is not None)

    def on_validation_end(self, epoch, request_stop, **_: Any) -> None:
        reason = self.doctor.after_validation(epoch) if self.doctor is not None else None
        if reason is not None:
            request_stop(reason)

    def on_train_end(self, status, **_: Any) -> None:
        if self.doctor is not None:
            self.doctor.at_end(status)
