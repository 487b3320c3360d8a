"""Render a comparison: a terminal report (rich) and, with --out, summary.md, CSV tables and the pictures.

The content is built once as sections of plain strings (a title, a table, a
few sentences); the terminal and the Markdown file are two renderings of the
same sections, so they never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ceph_doctor.numbers import plural
from ceph_doctor.printable import printable
from ceph_doctor.signals.paired import IMPROVED, REGRESSED
from ceph_doctor.store.meaning import direction

TERMINAL_ROWS = 30
STYLES = {REGRESSED: "red", IMPROVED: "green"}


@dataclass
class Section:
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)  # one per row, terminal only
    lines: list[str] = field(default_factory=list)


def number(value, digits: int = 2, sign: bool = False) -> str:
    if value is None or math.isnan(value := float(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:{'+' if sign else ''}.{digits}f}"


def p_value(value) -> str:
    return "–" if value is None or math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def percent(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:+.0f} %"


def sections(comparison) -> list[Section]:
    parts = [_checkpoints(comparison), _summary(comparison)]
    if comparison.pair is not None:
        parts += [_overall_metrics(comparison), _per_landmark(comparison), _spread(comparison)]
    if comparison.findings:
        parts.append(_findings(comparison))
    parts.append(_weights(comparison))
    stored = _stored_values(comparison)
    if stored.rows:
        parts.append(stored)
    return parts


def _checkpoints(c) -> Section:
    rows = []
    for label, checkpoint in (("A", c.a), ("B", c.b)):
        epoch = "–" if checkpoint.epoch is None else str(checkpoint.epoch)
        rows.append([label, str(checkpoint.path), checkpoint.kind, epoch, f"{len(checkpoint.state_dict)}"])
    return Section("Checkpoints", ["", "file", "kind", "epoch", "tensors"], rows, lines=list(c.notes))


def _summary(c) -> Section:
    lines = []
    if c.changes is not None:
        overall, unit = c.changes.overall, c.changes.unit
        direction = {REGRESSED: "B is worse than A", IMPROVED: "B is better than A"}.get(
            overall["verdict"], "No evidence that B differs from A overall")
        lines.append(
            f"{direction}: mean error {number(overall['error_a'])} → {number(overall['error_b'])} {unit} "
            f"({percent(overall['relative'])}, Wilcoxon p {_p_clause(overall['p_value'])} over "
            f"{overall['images']} images)."
        )
        regressed, improved = c.changes.regressed, c.changes.improved
        unchanged = len(c.changes.table) - len(regressed) - len(improved)
        lines.append(f"{len(regressed)} {plural(len(regressed), 'landmarks')} regressed, {len(improved)} improved, "
                     f"{unchanged} {'shows' if unchanged == 1 else 'show'} no evidence of change "
                     "(Benjamini–Hochberg, 5 % false discoveries).")
        table = c.changes.table
        for verdict, names in ((REGRESSED, regressed), (IMPROVED, improved)):
            if names:
                ordered = table.loc[names].sort_values("delta", ascending=verdict == IMPROVED).index
                lines.append(f"{verdict.capitalize()}: " + ", ".join(
                    f"{name} {number(table.loc[name, 'delta'], 1, sign=True)} {unit}" for name in ordered))
    if c.spread is not None:
        collapsed = c.spread.collapsed("b")
        if collapsed and c.spread.median_b < c.spread.median_a:
            lines.append(f"B's predictions collapse: median spread ratio {number(c.spread.median_b)} against A's "
                         f"{number(c.spread.median_a)}; collapsed in B: {', '.join(collapsed)}.")
    if c.weights.compared:
        weights = c.weights.weights
        still = int((weights["norm_diff"] == 0).sum())
        # Floored, so "100 %" is never shown for a model of which anything at all moved.
        share = math.floor(1000 * c.weights.unchanged_share()) / 10
        lines.append(f"Weights moved by {number(c.weights.overall(), 4)} of their norm overall; {still} of "
                     f"{len(weights)} weight tensors ({share:g} % of the parameters) did not change at all.")
    return Section("Summary", lines=lines)


def _p_clause(value) -> str:
    text = p_value(value)
    return text if text.startswith("<") else f"= {text}"


def _overall_metrics(c) -> Section:
    metrics_a, metrics_b = c.pair.a.result.metrics.overall, c.pair.b.result.metrics.overall
    rows, styles = [], []
    for name in metrics_a:
        a, b = metrics_a[name], metrics_b.get(name, math.nan)
        delta = b - a if math.isfinite(a) and math.isfinite(b) else math.nan
        better = None if not math.isfinite(delta) or delta == 0 else (delta < 0) == (direction(name) != "max")
        rows.append([name, number(a), number(b), number(delta, sign=True),
                     "–" if better is None else ("B" if better else "A")])
        styles.append(None if better is None else ("green" if better else "red"))
    return Section(f"Metrics on {c.pair.description}", ["metric", "A", "B", "B − A", "better"], rows, styles)


def _per_landmark(c) -> Section:
    table, spread = c.changes.table, c.spread.table
    rows, styles = [], []
    for name, row in table.iterrows():
        rows.append([name, number(row["error_a"]), number(row["error_b"]), number(row["delta"], sign=True),
                     percent(row["relative"]), p_value(row["p_adjusted"]), row["verdict"],
                     number(spread.loc[name, "spread_a"]), number(spread.loc[name, "spread_b"])])
        styles.append(STYLES.get(row["verdict"]))
    headers = ["landmark", "A", "B", "B − A", "change", "p (BH)", "verdict", "spread A", "spread B"]
    return Section(f"Per landmark: mean radial error ({c.changes.unit}), paired over images", headers, rows, styles,
                   ["p (BH): Wilcoxon signed-rank over images, adjusted by Benjamini–Hochberg across landmarks.",
                    "spread: predictions' spread across images over the truth's (1 follows the anatomy; "
                    "under 0.5 collapsed)."])


def _spread(c) -> Section:
    s = c.spread
    lines = [f"Median spread ratio: A {number(s.median_a)}, B {number(s.median_b)}."]
    for label, side in (("A", "a"), ("B", "b")):
        collapsed = s.collapsed(side)
        lines.append(f"Collapsed in {label}: {', '.join(collapsed) if collapsed else 'none'}.")
    return Section("Prediction spread (collapse)", lines=lines)


def _findings(c) -> Section:
    lines = []
    for label in ("A", "B"):
        if label not in c.findings:
            continue
        found = c.findings[label]
        epoch = (c.a if label == "A" else c.b).epoch
        if isinstance(found, str):
            lines.append(f"{label}: {found}.")
        else:
            described = ", ".join(
                f"{f.id} ({f.severity}{'' if f.epoch is None else f', from epoch {f.epoch}'})" for f in found)
            lines.append(f"{label} (epoch {epoch}): {described or 'no diagnosis up to this epoch'}.")
    return Section("Diagnoses of the runs, up to each checkpoint's epoch", lines=lines)


def _weights(c) -> Section:
    diff = c.weights
    section = Section("Weight change by module, ‖B − A‖ / ‖A‖",
                      ["module", "tensors", "parameters", "relative change"])
    if diff.compared:
        for _, row in diff.by_module(diff.readable_depth()).iterrows():
            section.rows.append([row["module"], str(int(row["tensors"])), f"{int(row['numel']):,}",
                                 "0 (unchanged)" if row["relative_change"] == 0 else number(row["relative_change"], 4)])
            section.styles.append("dim" if row["relative_change"] == 0 else None)
        changes = diff.weights["relative_change"]
        moved = diff.weights[(changes > 0) & np.isfinite(changes)].nlargest(5, "relative_change")
        if len(moved):
            section.lines.append("Most moved tensors: " + ", ".join(
                f"{name} {number(value, 4)}" for name, value in zip(moved["tensor"], moved["relative_change"])) + ".")
        from_zero = diff.weights[np.isinf(changes)]["tensor"].tolist()
        if from_zero:
            section.lines.append(f"All zeros in A and moved in B (relative change ∞, {len(from_zero)}): "
                                 f"{', '.join(from_zero[:5])}{' …' if len(from_zero) > 5 else ''}.")
    for label, names in (("Only in A", diff.only_in_a), ("Only in B", diff.only_in_b)):
        if names:
            section.lines.append(f"{label} ({len(names)}): {', '.join(names[:8])}{' …' if len(names) > 8 else ''}.")
    if diff.shape_differs:
        section.lines.append(f"Shape differs ({len(diff.shape_differs)}, not compared): " + ", ".join(
            f"{name} {shape_a}→{shape_b}" for name, shape_a, shape_b in diff.shape_differs[:8]) + ".")
    return section


def _stored_values(c) -> Section:
    keys = list(dict.fromkeys([*c.a.scalars, *c.b.scalars]))
    rows = []
    for key in keys:
        a, b = c.a.scalars.get(key, math.nan), c.b.scalars.get(key, math.nan)
        rows.append([key, number(a, 4), number(b, 4), number(b - a, 4, sign=True)])
    return Section("Values stored in the checkpoints", ["key", "A", "B", "B − A"], rows)


# -- renderers -------------------------------------------------------------------


def print_report(comparison, console: Console) -> None:
    print_sections(sections(comparison), console)


def print_sections(parts: list[Section], console: Console, full_tables: bool = False) -> None:
    """Each section as a rule, a table and its lines; long tables cut at TERMINAL_ROWS unless `full_tables`
    (a per-landmark table is always whole: the landmark left out would be the one asked about)."""
    for section in parts:
        console.rule(f"[bold]{section.title}", align="left")
        if section.headers:
            table = Table(show_edge=False, header_style="bold")
            for index, header in enumerate(section.headers):
                cells = [row[index] for row in section.rows]
                table.add_column(header, justify="right" if cells and all(map(_numeric, cells)) else "left")
            whole = full_tables or section.title.startswith("Per landmark")
            shown = section.rows if whole else section.rows[:TERMINAL_ROWS]
            for row, style in zip(shown, section.styles or [None] * len(shown)):
                # Text, not markup: tensor and landmark names come from the files, escape sequences included.
                table.add_row(*(Text(printable(cell)) for cell in row), style=style)
            console.print(table)
            if len(shown) < len(section.rows):
                console.print(f"… {len(section.rows) - len(shown)} more rows in summary.md (--out)", style="dim")
        for line in section.lines:
            console.print(printable(line), highlight=False, markup=False)


def _numeric(cell: str) -> bool:
    return cell[:1] in set("0123456789+-−–∞") and not cell.startswith("--")


def markdown_sections(parts: list[Section]) -> list[str]:
    """Each section as a level-2 heading, a Markdown table and a list of its lines."""
    text: list[str] = []
    for section in parts:
        text += [f"## {section.title}", ""]
        if section.headers:
            text.append("| " + " | ".join(section.headers) + " |")
            text.append("|" + "---|" * len(section.headers))
            text += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in section.rows]
            text.append("")
        text += [*(f"- {line}" for line in section.lines), ""] if section.lines else []
    return text


def write_report(comparison, out: Path, pictures: list[tuple[str, str]]) -> Path:
    """summary.md with every section and picture, and the per-landmark and per-tensor tables as CSV."""
    out.mkdir(parents=True, exist_ok=True)
    if comparison.changes is not None:
        comparison.changes.table.join(comparison.spread.table).to_csv(out / "per_landmark.csv")
    if comparison.weights.compared:
        comparison.weights.tensors.to_csv(out / "weights.csv", index=False)
    text = [f"# {comparison.a.path.name} (A) against {comparison.b.path.name} (B)", ""]
    text += markdown_sections(sections(comparison))
    for name, title in pictures:
        text += [f"## {title}", "", f"![{title}]({name})", ""]
    path = out / "summary.md"
    path.write_text("\n".join(text), encoding="utf-8")
    return path
