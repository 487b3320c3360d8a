"""The Markdown report: `reports/report.md.j2`, with its PNG figures in `<stem>_figures/` next to it.

Markdown has no autoescape, so this environment escapes every value by default (the `finalize`
hook) and only values marked safe pass through: code spans made by the `code` filter and the
figure links built here. A landmark called `<script>` or `*bold*` reads as typed, on GitHub too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ceph_doctor import __version__
from ceph_doctor.atomic import atomic_write_bytes, replaced_directory
from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.report.document import document_runs, severity_counts, templates_dir

# Characters that start emphasis, links, code, HTML, tables, strike-through or math anywhere in a line.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
# What only means something at the start of a line: a heading or bullet marker, an ordered-list number.
_HEADING_OR_BULLET = re.compile(r"^(\s*)(#{1,6}|[+\-])(?=\s|$)")
_ORDERED_ITEM = re.compile(r"^(\s*\d{1,9})([.)])(?=\s|$)")  # escape the "." (a backslash before a digit is literal)


def escape_markdown(value: Any) -> str:
    """Plain text for any Markdown renderer: one line, special characters backslash-escaped."""
    if isinstance(value, Markup):
        return str(value)
    text = re.sub(r"\s+", " ", str(value))  # a newline in a message must not start a heading or list
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = _HEADING_OR_BULLET.sub(r"\1\\\2", text)
    return _ORDERED_ITEM.sub(r"\1\\\2", text)


def code_span(value: Any) -> Markup:
    """`value` as inline code, fenced with more backticks than it contains."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return Markup(f"{fence}{padded}{fence}")


def render_markdown(reports: Sequence[RunReport], out: Path) -> Path:
    out = Path(out)
    figures_dir = out.parent / f"{out.stem}_figures"
    with replaced_directory(figures_dir) as filling:
        text = _markdown(reports, figures_dir.name, filling)
        atomic_write_bytes(out, text.encode("utf-8"))
    return out


def _markdown(reports: Sequence[RunReport], figures_name: str, filling: Path) -> str:
    """The report's text; its figures are written into `filling`, linked as if in `figures_name`."""

    def write_figure(run_index: int, figure) -> Markup:
        name = f"run{run_index}-{figure.name}.png"
        atomic_write_bytes(filling / name, figure.png)
        return Markup(quote(f"{figures_name}/{name}"))  # relative, so the folder can move

    environment = Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=False,
        finalize=escape_markdown,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["code"] = code_span
    return environment.get_template("report.md.j2").render(
        runs=document_runs(reports, write_figure),
        counts=severity_counts(reports),
        version=__version__,
    )
