"""What a report says about each run, as plain values every renderer formats its own way,
and where the document templates are.

The terminal, Markdown and HTML reports show the same facts, in the same order, with the same
wording for a fix: this module is that single source. It only reshapes what the engine concluded
(most severe first) and what the manifest records; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceph_doctor.engine.diagnosis import SEVERITIES, Diagnosis, Fix, RunReport
from ceph_doctor.report.run_facts import run_facts
from ceph_doctor.report.values import format_value

_OP_SYMBOLS = {"set": "=", "multiply": "×"}


def templates_dir() -> Path:
    """The `reports/` folder: inside the installed package (wheel), else at the top of a source checkout
    (editable installs map only Python packages, not this data folder)."""
    here = Path(__file__).resolve().parent
    packaged, checkout = here.parent / "reports", here.parent.parent / "reports"
    return packaged if packaged.is_dir() else checkout


def fix_text(fix: Fix) -> str:
    """`optimizer.lr × 0.2`, `train.max_epochs = 30`, `enable train.ema = 0.999`: one config change."""
    if fix.op == "enable":
        return f"enable {fix.key}" if fix.value in (None, True) else f"enable {fix.key} = {format_value(fix.value)}"
    return f"{fix.key} {_OP_SYMBOLS.get(fix.op, fix.op)} {format_value(fix.value)}"


def ordered(diagnoses: Sequence[Diagnosis]) -> list[Diagnosis]:
    """Most severe first; the engine's order within a severity."""
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    return sorted(diagnoses, key=lambda d: rank.get(d.severity, len(rank)))


def severity_counts(reports: Sequence[RunReport]) -> dict[str, int]:
    """Diagnoses by severity; those folded under another (explained by it) are not counted again."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for report in reports:
        for diagnosis in report.diagnoses:
            counts[diagnosis.severity] = counts.get(diagnosis.severity, 0) + 1
    return counts


@dataclass
class DiagnosisEntry:
    id: str
    severity: str
    title: str
    message: str
    epoch: int | None
    landmarks: list[str]
    evidence: list[tuple[str, str]]
    fixes: list[tuple[str, str]]  # (key op value, reason)
    fix_idioms: list[str] = field(default_factory=list)  # per fix: the same change in the run's own idiom, or ""
    when: str = ""  # "epoch 15", or "validation 19 (iteration 7600)" in an iteration-based run
    explains: list[tuple[str, str, str]] = field(default_factory=list)  # folded under it: (id, severity, message)


@dataclass
class RunSection:
    anchor: str
    path: str
    name: str
    facts: list[tuple[str, str]]
    counts: dict[str, int]
    diagnoses: list[DiagnosisEntry]
    not_checked: list[tuple[str, str]]
    figures: list[dict[str, str]] = field(default_factory=list)  # title, caption, src
    judged: bool = True  # False: no metric could be monitored, so "no problems" would mean nothing


FigureRef = Callable[[int, Any], str]  # (run index, FigureImage) -> what the document links: a path or a data URI


def document_runs(reports: Sequence[RunReport], figure_ref: FigureRef | None) -> list[RunSection]:
    """One view per run; `figure_ref=None` leaves figures out (and skips drawing them)."""
    views = []
    for index, report in enumerate(reports, start=1):
        figures = []
        if figure_ref is not None:
            from ceph_doctor.report.figures import run_figures

            for figure in run_figures(report.run, report.diagnoses):
                figures.append({"title": figure.title, "caption": figure.caption, "src": figure_ref(index, figure)})
        views.append(RunSection(
            anchor=f"run-{index}",
            path=str(report.path),
            name=Path(str(report.path)).name or str(report.path),
            facts=run_facts(report),
            counts=severity_counts([report]),
            diagnoses=[_diagnosis_view(d, report) for d in ordered(report.diagnoses)],
            not_checked=_grouped(report.not_checked),
            figures=figures,
            judged=getattr(report.run, "monitor", None) is not None,
        ))
    return views


def fix_idiom(fix: Fix, report: RunReport) -> str:
    """The fix as the user of an imported run would make it: the line of their framework's config or code
    (`frameworks`), else `canonical key: current → new` where the run's recorded config holds the current
    value; "" otherwise (a ceph-doctor run's own idiom is the canonical key itself). The new value is
    the engine's (`planned_change`): the arithmetic is done there, once."""
    run = report.run
    if run is None or report.source in ("ceph-doctor", ""):
        return ""
    from ceph_doctor.engine import planned_change
    from ceph_doctor.frameworks import for_run

    current, new = planned_change(fix, getattr(run, "config", None) or {})
    framework = for_run(run)
    if framework is not None:
        unknown = f"<current> * {fix.value:g}" if fix.op == "multiply" else "<new value>"
        return framework.config_line(fix.key, new, run, unknown) or ""
    if current is None or isinstance(current, dict):
        return ""
    return f"{fix.key}: {format_value(current)} → {format_value(new)}"


def _grouped(not_checked) -> list[tuple[str, str]]:
    """(signals, what they need): the signals one missing record leaves unchecked, on one line."""
    by_need: dict[str, list[str]] = {}
    for item in not_checked:
        by_need.setdefault(item.needs, []).append(item.signal)
    return [(", ".join(signals), needs) for needs, signals in by_need.items()]


def _diagnosis_view(diagnosis: Diagnosis, report: RunReport | None = None) -> DiagnosisEntry:
    return DiagnosisEntry(
        id=diagnosis.id,
        severity=diagnosis.severity,
        title=diagnosis.title,
        message=diagnosis.message.strip(),  # rule files' folded YAML blocks end in a newline
        epoch=diagnosis.epoch,
        landmarks=[str(name) for name in diagnosis.landmarks],
        evidence=[(str(name), format_value(value)) for name, value in diagnosis.evidence.items()],
        fixes=[(fix_text(fix), fix.reason) for fix in diagnosis.fixes],
        fix_idioms=[fix_idiom(fix, report) if report is not None else "" for fix in diagnosis.fixes],
        when=_when(diagnosis.epoch, report),
        explains=[(d.id, d.severity, d.message.strip()) for d in diagnosis.explains],
    )


def _when(epoch: int | None, report: RunReport | None) -> str:
    if epoch is None:
        return ""
    run = getattr(report, "run", None)
    if run is None or not hasattr(run, "series"):
        return f"epoch {epoch}"
    from ceph_doctor.store.monitor import epoch_label

    return epoch_label(run, epoch)
