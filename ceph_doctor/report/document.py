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
from ceph_doctor.engine.fixes import shown_value
from ceph_doctor.engine.plan import plan_of
from ceph_doctor.report.run_facts import run_facts
from ceph_doctor.numbers import percent, quantity
from ceph_doctor.printable import printable_all
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
    treatment: str = ""  # where its fixes stand in the run's plan: "steps 1, 2 of the plan", or why none
    when: str = ""  # "epoch 15", or "validation 19 (iteration 7600)" in an iteration-based run
    explains: list[tuple[str, str, str]] = field(default_factory=list)  # folded under it: (id, severity, message)


@dataclass
class PlanRow:
    """One step of a run's treatment plan, as every format shows it."""

    number: int
    key: str
    change: str  # "0.02 → 0.004"
    how: str  # the copy-ready way to make it: `--set key=value`, or the line of the run's framework; "" if none
    asked_by: list[tuple[str, str]]  # (diagnosis id, reason), the deciding one first
    overruled: list[tuple[str, str]]  # (diagnosis id, what it asked instead)


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
    not_judged: str = ""  # why "no problems" would mean nothing here: no monitored metric, or a single validation
    plan: list[PlanRow] = field(default_factory=list)
    plan_unchanged: list[str] = field(default_factory=list)  # "optimizer.weight_decay is already 0 (overfitting)"
    apply_all: str = ""  # the commands that apply the whole plan and train again, where the run allows it
    unseen_parts: str = ""  # "a sequence decoder or a second task": parts the logs show no trace of
    unread: list[str] = field(default_factory=list)  # what could not be read of the run's files
    error_kinds: ErrorKinds | None = None  # how each landmark is wrong at the last validation


@dataclass
class ErrorKinds:
    """The last validation's predictions by kind (ceph_doctor.landmark_errors), per landmark and overall."""

    epoch: str  # "epoch 15"
    rows: list[tuple[str, ...]]  # landmark, good / jitter / swap / miss as percentages, mean error, annotators
    with_annotators: bool  # the data had two annotators: their disagreement is the last column
    gains: str  # "MRE 3.1 mm; with jitter fixed 1.2 mm, swaps 3.0 mm, misses 2.2 mm"
    legend: str  # what each kind means, in the run's unit
    implausible: str = ""  # predicted shapes a shape model of the run's annotations finds implausible


def error_kinds(report: RunReport) -> ErrorKinds | None:
    """None where the run recorded no per-landmark validation predictions."""
    from ceph_doctor.signals.base import MissingInput
    from ceph_doctor.signals.landmark_kinds import (
        annotator_limits, has_spacing, implausible_shapes, mean_error_per_landmark, val_error_kinds,
    )

    if report.run is None:
        return None
    try:
        classified, summary, epoch, _ = val_error_kinds(report.run)
    except MissingInput:
        return None
    unit = "mm" if has_spacing(report.run) else "px"
    scale = 1.0 if unit == "mm" else 10.0  # judged at 0.1 mm per px without spacing: shown back in px
    limits = annotator_limits(report.run)
    rows = [(name, *(percent(share) for share in shares), quantity(float(error), unit),
             quantity(limits[name], unit) if name in limits else "")
            for name, shares, error in zip(summary.names, summary.shares, mean_error_per_landmark(classified, unit))]
    fixed = ", ".join(f"{kind}{'es' if kind == 'miss' else 's' if kind == 'swap' else ''} "
                      f"{quantity(summary.mre_if_fixed[kind] * scale, unit)}" for kind in ("jitter", "swap", "miss"))
    good, near = ("2 mm", "4 mm") if unit == "mm" else ("20 px", "40 px")  # px: at 0.1 mm per px
    legend = (f"Good: within {good} of its truth; jitter: within {near}; swap: beyond {near}, within {good} of "
              f"another landmark's truth; miss: neither.")
    gains = (f"MRE {quantity(summary.mre * scale, unit)}, SDR ({good}) {percent(summary.sdr)}; counting each kind "
             f"as right instead: {fixed}")
    try:
        images, count, _ = implausible_shapes(report.run)
        implausible = (f"Predicted shapes unlike any annotated one (a shape model of this run's annotations): "
                       f"{len(images)} of {count} images" + (f", {', '.join(images)}" if images else ""))
    except MissingInput:
        implausible = ""
    return ErrorKinds(_when(epoch, report), rows, bool(limits), gains, legend, implausible)


FigureRef = Callable[[int, Any], str]  # (run index, FigureImage) -> what the document links: a path or a data URI


def document_runs(reports: Sequence[RunReport], figure_ref: FigureRef | None) -> list[RunSection]:
    """One view per run; `figure_ref=None` leaves figures out (and skips drawing them)."""
    views = []
    for index, report in enumerate(reports, start=1):
        rows = plan_rows(report)
        steps = {row.key: row.number for row in rows}
        figures = []
        if figure_ref is not None:
            for figure in report_figures(report):
                source = figure_ref(index, figure) if figure.png is not None else None  # None: not drawn, said why
                figures.append({"title": figure.title, "caption": figure.caption, "src": source})
        views.append(printable_all(RunSection(
            anchor=f"run-{index}",
            path=str(report.path),
            name=Path(str(report.path)).name or str(report.path),
            facts=run_facts(report),
            counts=severity_counts([report]),
            diagnoses=[_diagnosis_view(d, report, steps) for d in ordered(report.diagnoses)],
            not_checked=_grouped(report.not_checked),
            figures=figures,
            not_judged=_not_judged(report),
            plan=rows,
            plan_unchanged=[f"{key} is already {shown_value(value)} ({', '.join(ids)})"
                            for key, value, ids in plan_of(report).unchanged],
            apply_all=_apply_all(report) if rows else "",
            unseen_parts=_either(report.unseen_parts),
            unread=list(getattr(report.run, "unread", [])),
            error_kinds=error_kinds(report),
        )))  # names and messages carry other people's bytes: no terminal control sequence gets through
    return views


def report_figures(report: RunReport) -> list:
    """The run's figures, drawn on first use and kept on the report: the Markdown and HTML reports of one
    analysis show the same pictures, and drawing them is most of a report's cost."""
    if "figures" not in report.memo:
        from ceph_doctor.report.figures import run_figures

        report.memo["figures"] = run_figures(report.run, report.diagnoses)
    return report.memo["figures"]


def plan_rows(report: RunReport) -> list[PlanRow]:
    """The run's treatment plan (`RunReport.plan`), each step with the copy-ready way to make it."""
    return [PlanRow(number, step.key, step.change, _how(step, report), list(step.asked_by), list(step.overruled))
            for number, step in enumerate(plan_of(report).steps, start=1)]


def _how(step, report: RunReport) -> str:
    """`--set key=value` for ceph-doctor's own runs; for an imported run the line of its framework's config or
    code (`frameworks`), with the value the plan computed; "" where neither exists."""
    run = report.run
    if report.source == "ceph-doctor":
        return step.set_option or ""
    from ceph_doctor.frameworks import for_run

    framework = for_run(run) if run is not None else None
    if framework is None:
        return ""
    fix = step.fix
    unknown = f"<current> * {fix.value:g}" if fix.op == "multiply" else "<new value>"
    return framework.config_line(step.key, step.new, run, unknown) or ""


def _apply_all(report: RunReport) -> str:
    """The two commands that apply the whole plan to a ceph-doctor run and train it again."""
    if report.source != "ceph-doctor" or report.run is None or not getattr(report.run, "config", None):
        return ""
    return f"ceph-doctor analyze {report.path} --emit-config fixed.yaml && ceph-doctor train --config fixed.yaml"


def _not_judged(report: RunReport) -> str:
    """Why the run's curve could not be judged, or "": a run without a monitored metric, or with a single
    validation of it (a curve of one point neither improves nor worsens)."""
    run = report.run
    monitor = getattr(run, "monitor", None)
    if monitor is None:
        return "no logged name is a validation metric or loss (see --show-names; name one with --map)"
    validations = len(set(run.series(monitor.metric).epoch.tolist()))
    if validations < 2:
        return f"{monitor.metric} was validated {validations} {'time' if validations == 1 else 'times'}: a curve " \
               "needs two validations before it can improve or worsen"
    return ""


def _either(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" or {parts[-1]}" if parts else ""


def _grouped(not_checked) -> list[tuple[str, str]]:
    """(signals, what they need): the signals one missing record leaves unchecked, on one line."""
    by_need: dict[str, list[str]] = {}
    for item in not_checked:
        by_need.setdefault(item.needs, []).append(item.signal)
    return [(", ".join(signals), needs) for needs, signals in by_need.items()]


def _diagnosis_view(diagnosis: Diagnosis, report: RunReport | None = None,
                    steps: dict[str, int] | None = None) -> DiagnosisEntry:
    return DiagnosisEntry(
        id=diagnosis.id,
        severity=diagnosis.severity,
        title=diagnosis.title,
        message=diagnosis.message.strip(),  # rule files' folded YAML blocks end in a newline
        epoch=diagnosis.epoch,
        landmarks=[str(name) for name in diagnosis.landmarks],
        evidence=[(str(name), quantity(value, diagnosis.units.get(name, ""))) for name, value in diagnosis.evidence.items()],
        treatment=_treatment(diagnosis, steps or {}),
        when=_when(diagnosis.epoch, report),
        explains=[(d.id, d.severity, d.message.strip()) for d in diagnosis.explains],
    )


def _treatment(diagnosis: Diagnosis, steps: dict[str, int]) -> str:
    """Where a diagnosis's fixes went in the plan: "plan steps 1, 2", and the keys already as it asks."""
    numbers = sorted({steps[fix.key] for fix in diagnosis.fixes if fix.key in steps})
    left = [fix.key for fix in diagnosis.fixes if fix.key not in steps]
    said = [f"plan {'step' if len(numbers) == 1 else 'steps'} {', '.join(map(str, numbers))}"] if numbers else []
    said += [f"{', '.join(left)} already as it asks"] if left else []
    return "; ".join(said)


def _when(epoch: int | None, report: RunReport | None) -> str:
    if epoch is None:
        return ""
    run = getattr(report, "run", None)
    if run is None or not hasattr(run, "series"):
        return f"epoch {epoch}"
    from ceph_doctor.store.monitor import epoch_label

    return epoch_label(run, epoch)
