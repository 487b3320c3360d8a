"""Scoring the log corpora: each case's logs analyzed as a user would, against its reviewer's labels.

A case is a folder of logs and an entry of a labels file: `must` (ids clearly present; `healthy`
means no error or warning at all) and `must_not` (ids clearly absent). A case whose folder holds
several runs (one file with three trainings) is right when every `must` id shows in at least one of
its runs (`healthy`: in all of them), and no `must_not` id in any (`healthy`: some run has an error
or warning). A run whose monitored metric could not be found is never healthy.

The wild labels are a reading of each log's curves (the corpus README says so): they say nothing of how fast
a run went. A diagnosis of its speed (`data-bound`, read from the seconds a step waited for data) is shown and
counted as found, but it neither makes nor breaks `healthy`, which is a verdict on the curves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ceph_doctor.analyze import analyze_paths
from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.errors import UserInputError

PROJECT = Path(__file__).resolve().parent / "corpus"
WILD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "wild"
SERIOUS = ("error", "warning")
ABOUT_SPEED = ("data-bound",)  # diagnoses of how fast a run trained, not of its curves


@dataclass
class Score:
    case: str
    corpus: str
    must: list[str]
    must_not: list[str]
    reports: list[RunReport] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # log files skipped as unreadable, with why
    missing: list[str] = field(default_factory=list)  # must ids not found
    false: list[str] = field(default_factory=list)  # must_not ids found

    @property
    def right(self) -> bool:
        return not self.missing and not self.false

    def ids(self) -> list[set[str]]:
        return [{d.id for d in r.diagnoses} for r in self.reports]


def healthy(report: RunReport) -> bool:
    return report.run.monitor is not None and not any(
        d.severity in SERIOUS and d.id not in ABOUT_SPEED for d in report.diagnoses)


def cases(corpus: str) -> dict[str, dict]:
    folder = PROJECT if corpus == "project" else WILD
    labels = folder / "labels.json"
    if not labels.is_file():
        return {}
    return json.loads(labels.read_text())


def case_folder(corpus: str, case: str) -> Path:
    folder = PROJECT / "cases" if corpus == "project" else WILD
    return folder / case


def score(corpus: str, case: str, label: dict) -> Score:
    result = Score(case, corpus, list(label.get("must", [])), list(label.get("must_not", [])))
    seen: list = []
    try:
        result.reports = analyze_paths([case_folder(corpus, case)],
                                       on_files=lambda runs, skipped: seen.extend(skipped))
    except UserInputError as error:
        result.unread = [str(error)]
    result.unread += [str(note) for note in seen if _unread(note.reason)]
    ids = result.ids()
    for wanted in result.must:
        present = all(healthy(r) for r in result.reports) if wanted == "healthy" else any(wanted in i for i in ids)
        if not present or not result.reports:
            result.missing.append(wanted)
    for unwanted in result.must_not:
        present = all(healthy(r) for r in result.reports) if unwanted == "healthy" else any(
            unwanted in i for i in ids)
        if present:
            result.false.append(unwanted)
    return result


def _unread(reason: str) -> bool:
    """A log that was not read for a reason other than being a copy of one that was."""
    return not reason.startswith(("same numbers as", "an earlier copy of", "passed over files that are not logs"))
