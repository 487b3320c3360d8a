"""The terminal report (rich): per run, diagnoses most severe first with their evidence and fixes,
then what could not be checked and what to log to check it.

Every string from a run (paths, landmark names, messages) goes into `Text` objects, never into
markup, so a `[bold]` in a landmark name prints as typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.report.document import DiagnosisEntry, RunSection, document_runs, severity_counts

SEVERITY_STYLES = {"error": "red", "warning": "yellow", "info": "blue"}
_BADGE_STYLES = {"error": "bold white on red", "warning": "bold black on yellow", "info": "bold white on blue"}


def render_terminal(reports: Sequence[RunReport], console: Console) -> None:
    console.print(_summary_line(reports))
    for section in document_runs(reports, figure_ref=None):
        console.print()
        console.print(Rule(Text(f"{section.path}", style="bold"), align="left", style="dim"))
        console.print(_facts(section))
        for problem in section.unread:  # before the verdict: it was reached without these records
            console.print(Text(f"could not read: {problem}", style="yellow"))
        if not section.diagnoses:
            console.print(Text(f"? not judged: {section.not_judged}", style="bold yellow") if section.not_judged
                          else Text("✓ no problems found", style="bold green"))
        for entry in section.diagnoses:
            console.print(_diagnosis_panel(entry))
        if section.plan or section.plan_unchanged:
            console.print(_plan(section))
        if section.not_checked:
            console.print(_not_checked(section))
        if section.unseen_parts:
            console.print(Text(f"not for this run: its logs show no trace of {section.unseen_parts}, so their "
                               "checks were left out", style="dim"))


def _summary_line(reports: Sequence[RunReport]) -> Text:
    counts = severity_counts(reports)
    line = Text("ceph-doctor ", style="bold")
    line.append(f"· {len(reports)} run{'s' if len(reports) != 1 else ''} · ")
    parts = [(f"{count} {severity}{'s' if count != 1 and severity != 'info' else ''}", severity)
             for severity, count in counts.items()]
    for index, (words, severity) in enumerate(parts):
        line.append(words, style=SEVERITY_STYLES.get(severity, "") if counts[severity] else "dim")
        line.append(", " if index < len(parts) - 1 else "")
    return line


def _facts(section: RunSection) -> Text:
    line = Text(style="dim")
    for index, (label, value) in enumerate(section.facts):
        line.append(f"{label} ")
        line.append(value, style="default")
        if index < len(section.facts) - 1:
            line.append(" · ")
    return line


def _diagnosis_panel(entry: DiagnosisEntry) -> Panel:
    colour = SEVERITY_STYLES.get(entry.severity, "white")
    # The heading stays short enough for an 80-column terminal; the title opens the body, where it wraps.
    heading = Text.assemble((f" {entry.severity.upper()} ", _BADGE_STYLES.get(entry.severity, "bold")), " ",
                            (entry.id, f"bold {colour}"))
    if entry.when:
        heading.append(f"  from {entry.when}", style="dim")
    parts: list = [Text(entry.title, style="bold")] if entry.title else []
    parts.append(Text(entry.message))
    details = Table.grid(padding=(0, 2))
    details.add_column(style="dim", no_wrap=True)
    details.add_column()
    if entry.landmarks:
        details.add_row("landmarks", Text(", ".join(entry.landmarks)))
    for row, (name, value) in enumerate(entry.evidence):
        details.add_row("evidence" if row == 0 else "", Text.assemble((name, "cyan"), " = ", value))
    if details.row_count:
        parts.append(Padding(details, (1, 0, 0, 0)))
    if entry.treatment:
        details.add_row("fixes", Text(entry.treatment, style="green"))
    if entry.explains:
        also = Table.grid(padding=(0, 1))
        also.add_column(no_wrap=True)
        also.add_column()
        for index, (other, severity, message) in enumerate(entry.explains):
            also.add_row(Text("also seen, explained by this:" if index == 0 else "", style="dim"),
                         Text.assemble((other, SEVERITY_STYLES.get(severity, "")), (f" — {message}", "dim")))
        parts.append(Padding(also, (1, 0, 0, 0)))
    return Panel(Group(*parts), title=heading, title_align="left", border_style=colour, padding=(0, 1))


def _plan(section: RunSection) -> Group:
    """One change per key, the root cause's value first; each with how to make it and who asked."""
    heading = Text("treatment plan", style="bold")
    if section.apply_all:
        heading.append("  all of it: ", style="dim")
        heading.append(section.apply_all, style="green")
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", no_wrap=True)
    table.add_column()
    for row in section.plan:
        line = Text.assemble((row.key, "bold cyan"), "  ", (row.change, "bold"))
        if row.how:
            line.append("   ")
            line.append(row.how, style="green")
        table.add_row(f"{row.number}.", line)
        for source, reason in row.asked_by:
            table.add_row("", Text.assemble((source or "asked", "dim bold"), (f": {reason}", "dim")))
        for source, asked in row.overruled:
            table.add_row("", Text(f"instead of {asked}, which {source or 'another fix'} asked", style="dim"))
    for said in section.plan_unchanged:
        table.add_row("·", Text(f"unchanged: {said}", style="dim"))
    return Group(heading, Padding(table, (0, 0, 0, 1)))


def _not_checked(section: RunSection) -> Group:
    """Grouped by what to log: one line per record the run lacks, with the checks it would make possible."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    for signals, needs in section.not_checked:
        table.add_row("  •", Text.assemble(("log ", "dim"), needs, ("  → checks ", "dim"), (signals, "cyan")))
    return Group(Text("not checked: what to log to check more", style="bold"), table)
