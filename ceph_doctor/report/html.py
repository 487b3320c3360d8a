"""The HTML report: one self-contained file a person can mail or attach to a ticket.

`reports/report.html.j2` with `reports/style.css` inlined and every figure embedded as a base64 PNG
data URI: no other file, no network. Jinja2 autoescaping escapes everything from the run (paths,
landmark names, messages, config values); only the stylesheet is marked safe, and it is ours.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ceph_doctor import __version__
from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.report.document import document_runs, severity_counts, templates_dir


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(reports: Sequence[RunReport], out: Path) -> Path:
    out = Path(out)
    templates = templates_dir()
    environment = Environment(
        loader=FileSystemLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = environment.get_template("report.html.j2").render(
        runs=document_runs(reports, lambda _, figure: data_uri(figure.png)),
        counts=severity_counts(reports),
        version=__version__,
        css=Markup((templates / "style.css").read_text(encoding="utf-8")),
    )
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
