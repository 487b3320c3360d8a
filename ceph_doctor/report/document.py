"""What a report says about each run, as plain values every renderer formats its own way,
and where the document templates are.

The terminal, Markdown and HTML reports show the same facts, in the same order, with the same
wording for a fix: this module is that single source. It only reshapes what the engine concluded
(most severe first) and what the manifest records; it decides nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceph_doctor.engine.diagnosis import SEVERITIES, Diagnosis, Fix, RunReport

_OP_SYMBOLS = {"set": "=", "multiply": "×"}


def templates_dir() -> Path:
    """The `reports/` folder: inside the installed package (wheel), else at the top of a source checkout
    (editable installs map only Python packages, not this data folder)."""
    here = Path(__file__).resolve().parent
    packaged, checkout = here.parent / "reports", here.parent.parent / "reports"
    return packaged if packaged.is_dir() else checkout


def format_value(value: Any, limit: int = 160) -> str:
    """A measured value or a config value, short and readable: 4 significant digits, YAML-like words."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(format_value(item, limit) for item in value[:12])
        text = f"[{shown}{', …' if len(value) > 12 else ''}]"
    elif isinstance(value, dict):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def run_facts(report: RunReport) -> list[tuple[str, str]]:
    """The lines that say what run this is: status, length, model, data. Only what is recorded."""
    run = report.run
    manifest = getattr(run, "manifest", None) or {}
    dataset, model = manifest.get("dataset") or {}, manifest.get("model") or {}
    config = getattr(run, "config", None) or {}
    arch = (config.get("model") or {}).get("arch") if isinstance(config.get("model"), dict) else None
    data_source = (config.get("data") or {}).get("source") if isinstance(config.get("data"), dict) else None
    facts = [("source", report.source)]
    candidates = [
        ("status", manifest.get("status")),
        ("last", _last_epoch(run)),
        ("best", _best(run)),
        ("model", " ".join(str(p) for p in (arch, _parameters(model.get("parameters"))) if p)),
        ("data", data_source),
        ("images", _images(dataset)),
        ("landmarks", len(manifest["landmarks"]) if manifest.get("landmarks") else None),
        ("pixel spacing", _with_unit(manifest.get("pixel_spacing_mm"), "mm")),
        ("monitored metric", _monitored(run)),
    ]
    facts += [(label, str(value)) for label, value in candidates if value not in (None, "")]
    return facts


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


def _last_epoch(run) -> str | None:
    last = getattr(run, "last_epoch", None)
    if last is None:
        return None
    from ceph_doctor.store.monitor import epoch_label

    return epoch_label(run, int(last))


def _best(run) -> str | None:
    if run is None or getattr(run, "scalars", None) is None:
        return None
    from ceph_doctor.report.run_view import RunView

    view = RunView(run)
    if view.best is None:
        return None
    epoch, value = view.best
    from ceph_doctor.store.monitor import epoch_label

    from ceph_doctor.store.monitor import in_pixels

    label = epoch_label(run, epoch)
    restated = in_pixels(run, value)
    pixels = f", ≈ {restated[0]:.3g} px ({restated[1]})" if restated else ""
    return f"{label} ({view.metric_tag} {format_value(value)}{pixels})"


def _monitored(run) -> str | None:
    if run is None:
        return None
    from ceph_doctor.store.monitor import monitor_of

    monitor = monitor_of(run)
    if monitor is None:
        return "none: no logged name is a validation metric or loss, so nothing was judged on one"
    return f"{monitor.metric} ({'lower' if monitor.mode == 'min' else 'higher'} is better; {monitor.why})"


def _with_unit(value, unit: str) -> str | None:
    return None if value in (None, "") else f"{format_value(value)} {unit}"


def _parameters(count) -> str | None:
    if not isinstance(count, (int, float)) or not count:
        return None
    return f"({count / 1e6:.2f} M parameters)" if count >= 1e5 else f"({count} parameters)"


def _images(dataset: dict) -> str | None:
    parts = [f"{dataset[key]} {key.split('_')[0]}" for key in ("train_images", "val_images") if dataset.get(key)]
    return ", ".join(parts) or None
