"""`ceph-doctor analyze`: find runs, diagnose them, render the report, pick the exit code."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ceph_doctor.engine.diagnosis import SEVERITIES, RunReport
from ceph_doctor.errors import UserInputError
from ceph_doctor.numbers import plural
from ceph_doctor.printable import printable

FORMATS = ("text", "md", "html", "json")
FAIL_ON = ("error", "warning", "never")


def run_analyze(
    paths: list[Path],
    output_format: str,
    out: Path | None,
    rule_dirs: list[Path],
    emit_config: Path | None,
    fail_on: str,
    maps: list[str] | None = None,
    show_names: bool = False,
    reference: Path | None = None,
) -> int:
    from ceph_doctor.analyze import analyze_paths, collect_runs
    from ceph_doctor.importers.names import NameMap

    if show_names:
        from ceph_doctor.report.names import render_names

        runs, skipped = collect_runs(paths, NameMap.parse(maps))
        tell_files(runs, skipped)
        render_names(runs, Console())
        return 0
    if output_format not in FORMATS:
        raise UserInputError(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
    if fail_on not in FAIL_ON:
        raise UserInputError(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON)}")
    reports = analyze_paths(paths, rule_dirs, names=NameMap.parse(maps), on_files=tell_files, reference=reference)
    render(reports, output_format, out)
    if emit_config is not None:
        write_fixed_config(reports, emit_config)
    return exit_code(reports, fail_on)


def tell_files(runs, skipped) -> None:
    """On stderr, so stdout stays the report: which logs of other tools were read, and what was passed over."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for run in runs:
        if run.source == "ceph-doctor":
            continue
        files = ", ".join(run.manifest.get("files", [])) or str(run.path)
        console.print(printable(f"read {run.source} run {run.path}: {files}"), markup=False)
        for note in run.notes:
            console.print(printable(f"  note: {note}"), markup=False)
        monitor = run.monitor
        said = (f"  monitoring {monitor.metric} ({'lower' if monitor.mode == 'min' else 'higher'} is better; "
                f"{monitor.why})" if monitor else "  monitoring nothing: no logged name is a validation metric "
                "or loss (see --show-names; name one with --map)")
        console.print(printable(said), markup=False)
    for note in skipped:
        console.print(printable(f"skipped {note}"), markup=False)


def render(reports: list[RunReport], output_format: str, out: Path | None) -> None:
    from ceph_doctor import report

    if output_format == "text":
        report.render_terminal(reports, Console(record=out is not None))
        return
    if output_format == "json":
        text = report.render_json(reports)
        if out is None:
            print(text)
        else:
            out.write_text(text)
        return
    target = out or Path(f"ceph-doctor-report.{output_format}")
    written = (report.render_html if output_format == "html" else report.render_markdown)(reports, target)
    Console(stderr=True).print(f"report written to {written}")


def write_fixed_config(reports: list[RunReport], path: Path) -> None:
    """The analyzed run's config with every diagnosis's fixes applied, for `ceph-doctor train --config`."""
    from ceph_doctor.engine import emit_config, repaired_config

    if len(reports) != 1:
        raise UserInputError(f"--emit-config needs exactly one run, got {len(reports)}; analyze one run directory")
    report = reports[0]
    config = report.run.config if report.run is not None else None
    if not config:
        raise UserInputError(f"{report.path}: the run carries no config to patch")
    fixed, plan = repaired_config(config, report.diagnoses)
    changes = plan.lines()
    emit_config(path, fixed, changes)
    console = Console(stderr=True)
    console.print(f"config with {len(changes)} {plural(len(changes), 'changes')} written to {path}; train it with: "
                  f"ceph-doctor train --config {path}", markup=False, highlight=False, soft_wrap=True)
    for line in changes:
        console.print(f"  {line}", markup=False, highlight=False)


def exit_code(reports: list[RunReport], fail_on: str) -> int:
    if fail_on == "never":
        return 0
    worst = SEVERITIES.index(fail_on)
    found = any(SEVERITIES.index(d.severity) <= worst for report in reports for d in report.diagnoses)
    return 1 if found else 0
