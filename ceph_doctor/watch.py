"""Following runs another process is writing: `ceph-doctor watch PATH`.

Each poll reads PATH again, read-only (a ceph-doctor run directory, a TensorBoard folder, an MMEngine work dir,
a CSV another process appends to: whatever `analyze` reads), and judges every validation that appeared since
the last poll, one at a time, as the run stood then (`Run.until`), with the same `LiveDoctor` the training loop
uses. So `watch` tells the same findings at the same epochs as the doctor inside the loop, however often it
polls. Nothing is locked or written: a writer never waits for it, and a file cut mid-write is read again whole
at the next poll.

A ceph-doctor run ends when its manifest says how it ended (or its writer is gone); other tools' logs say no such
thing, so they end when nothing under PATH has changed for `idle` seconds. Then the finished run is concluded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ceph_doctor.doctor import Finding, LiveDoctor, Verdict, validation_epochs
from ceph_doctor.errors import UserInputError
from ceph_doctor.folder_walk import signature as folder_signature
from ceph_doctor.store import layout


@dataclass
class Followed:
    """One run being followed: its doctor and what it has judged."""

    doctor: LiveDoctor
    judged: int | None = None  # the last validation epoch judged
    concluded: bool = False


@dataclass
class News:
    """What one poll found: per run, the verdicts of the validations that appeared, and its status line."""

    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)  # (run path, verdict)
    status: list[str] = field(default_factory=list)  # one line per run that moved
    waiting: bool = False  # no run at PATH yet


class Watch:
    def __init__(self, path: Path, rules, names=None, idle: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 reference=None):
        self.path = Path(path)
        self.reference = reference  # a finished Run every followed run races against
        self.rules = rules
        self.names = names
        self.idle = idle
        self.clock = clock
        self.followed: dict[str, Followed] = {}
        self.cache: dict = {}
        self.signature: tuple = ()
        self.changed_at = clock()
        self.finished = False

    def poll(self) -> News:
        news = News()
        signature = folder_signature(self.path)
        if signature != self.signature:
            self.signature, self.changed_at = signature, self.clock()
        runs = self._runs()
        if not runs:
            news.waiting = True
            self.finished = self.clock() - self.changed_at > self.idle
            return news
        for run in runs:
            key = str(run.path)
            followed = self.followed.setdefault(key, Followed(LiveDoctor(self.rules, reference=self.reference)))
            ended = self._ended(run)
            epochs = [epoch for epoch in settled_validations(run, ended)
                      if followed.judged is None or epoch > followed.judged]
            for epoch in epochs:
                news.verdicts.append((key, followed.doctor.judge(run.until(epoch))))
                followed.judged = epoch
            if epochs:
                news.status.append(status_line(run, followed))
            if ended and not followed.concluded:
                news.verdicts.append((key, followed.doctor.conclude(run)))
                followed.concluded = True
        self.finished = all(followed.concluded for followed in self.followed.values())
        return news

    def _runs(self) -> list:
        from ceph_doctor.analyze import collect_runs
        from ceph_doctor.store.reader import load_run

        if (self.path / layout.MANIFEST).is_file():
            try:
                return [load_run(self.path, self.cache)]
            except UserInputError:  # a manifest being replaced this instant: read it at the next poll
                return []
        if not self.path.exists():
            return []
        try:
            return collect_runs([self.path], self.names)[0]
        except UserInputError:  # nothing written there yet
            return []

    def _ended(self, run) -> bool:
        if run.source == "ceph-doctor":
            if run.manifest.get("status") != "running":
                return True
            from ceph_doctor.store.lock import running_status

            return not running_status(run.path).startswith("running")
        return self.clock() - self.changed_at > self.idle


def settled_validations(run, ended: bool) -> list[int]:
    """The validations whose records are complete. A ceph-doctor run publishes a validation whole (its
    predictions file comes last); another tool's log may hold half of its newest one (TensorBoard writes a
    record per scalar), so that one waits until the log goes on past it, or ends."""
    epochs = validation_epochs(run)
    if ended or run.source == "ceph-doctor" or not epochs:
        return epochs
    series = {tag: run.series(tag) for tag in run.tags}
    last_step = max((int(rows.step.max()) for rows in series.values() if len(rows)), default=None)
    newest = epochs[-1]
    validated_at = [int(rows.step[rows.epoch == newest].max()) for tag, rows in series.items()
                    if tag.startswith("val/") and (rows.epoch == newest).any()]
    if last_step is None or not validated_at or last_step > max(validated_at):
        return epochs
    return epochs[:-1]


def status_line(run, followed: Followed) -> str:
    """Epoch, the monitored metric and its best, and the throughput where the run logged it."""
    parts = [f"{run.path.name or run.path}", f"epoch {followed.judged}"]
    monitor = run.monitor
    if monitor is not None:
        rows = run.series(monitor.metric)
        values = [(value, int(epoch)) for value, epoch in zip(rows.value, rows.epoch) if math.isfinite(value)]
        if values:
            best = (min if monitor.mode == "min" else max)(values, key=lambda item: item[0])
            parts.append(f"{monitor.metric} {values[-1][0]:.4g} (best {best[0]:.4g} at epoch {best[1]})")
    throughput = run.series("perf/images_per_s")
    if len(throughput.value):
        parts.append(f"{throughput.value[-1]:.0f} images/s")
    return "  ".join(parts)


def replayed(run, rules) -> list[tuple[str, int | None, str]]:
    """What the doctor tells of a finished run judged one validation at a time, then concluded: ("found" |
    "cleared", the validation it was told at, id), in order — what `watch` would have told while it was written."""
    doctor = LiveDoctor(rules)
    told = []
    for epoch in validation_epochs(run):
        verdict = doctor.judge(run.until(epoch))
        told += [("found", finding.epoch, finding.id) for finding in verdict.found]
        told += [("cleared", epoch, finding.id) for finding in verdict.cleared]
    told += [("found", finding.epoch, finding.id) for finding in doctor.conclude(run).found]
    return told


def findings(news: News) -> list[tuple[str, Finding, bool, int | None]]:
    """(run path, finding, cleared?, epoch) in the order they happened."""
    told = []
    for key, verdict in news.verdicts:
        told += [(key, finding, False, verdict.epoch) for finding in verdict.found]
        told += [(key, finding, True, verdict.epoch) for finding in verdict.cleared]
    return told
