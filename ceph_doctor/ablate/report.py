"""An ablation rendered: the terminal table, Markdown or one self-contained HTML file, and JSON for scripts.

The content is built once as sections (the comparison report's `Section`), so the terminal, Markdown and
HTML never disagree. The pictures: a part × landmark map of effects (only findings coloured) and each
part's effect on the mean error with its seed-noise band.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from rich.console import Console

from ceph_doctor.ablate.effects import HELPS, HURTS, AblationResult
from ceph_doctor.ablate.verdict import PartVerdict
from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.compare.report import Section, markdown_sections, number, print_sections
from ceph_doctor.engine.evaluate import json_value
from ceph_doctor.report.document import fix_text, templates_dir
from ceph_doctor.report.html import data_uri

MARKS = {HURTS: "▲", HELPS: "▼"}
STYLES = {HURTS: "red", HELPS: "green"}
HURT_COLOUR, HELP_COLOUR, NOISE_COLOUR = "#c0392b", "#1e8449", "#95a5a6"


def sections(result: AblationResult, verdicts: list[PartVerdict]) -> list[Section]:
    plan, unit = result.plan, result.unit
    head = Section("Ablation", lines=[
        f"{plan.folder}: {plan.mode}, {len(plan.parts)} parts, reference trained under seeds "
        f"{', '.join(map(str, plan.seeds))}, {plan.threads} CPU thread(s) per training",
        "effect = error with the part − without it, over the same validation images (+: the part makes it worse); "
        "a finding must exceed the seed-noise band and hold image by image (signed-rank test, BH-corrected)",
    ])
    if result.reference is not None:
        head.lines.append(f"each run is read at its monitored best epoch, answer '{result.reference.decode}'")
    if result.missing:
        head.lines.append(f"not finished, left out: {', '.join(result.missing)}")
    head.lines += result.notes
    return [head, _summary(verdicts, unit), _diagnoses(verdicts), _landmarks(verdicts, unit), _noise(result)]


def _summary(verdicts: list[PartVerdict], unit: str) -> Section:
    section = Section("Each part's effect", headers=[
        "part", f"MRE with → without ({unit})", "effect ± seed noise", "verdict", "SDR 2 mm with → without (%)",
        "landmarks it hurts", "it helps", "s/epoch with → without", "images/s with → without"])
    for verdict in verdicts:
        effect, overall, cost = verdict.effect, verdict.effect.overall, verdict.effect.cost
        section.rows.append([
            effect.part, f"{number(overall['error_with'])} → {number(overall['error_without'])}",
            f"{number(overall['effect'], sign=True)} ± {number(overall['band'])}", overall["verdict"],
            f"{number(overall['sdr_with'], 1)} → {number(overall['sdr_without'], 1)}",
            ", ".join(effect.hurt) or "–", ", ".join(effect.helped) or "–",
            f"{number(cost.seconds_with, 1)} → {number(cost.seconds_without, 1)}",
            f"{number(cost.images_per_s_with, 0)} → {number(cost.images_per_s_without, 0)}",
        ])
        section.styles.append(STYLES.get(overall["verdict"]) or ("red" if effect.hurt else None))
    return section


def _diagnoses(verdicts: list[PartVerdict]) -> Section:
    section = Section("Diagnoses")
    for verdict in verdicts:
        for diagnosis in verdict.diagnoses:
            section.lines.append(f"{diagnosis.severity} {diagnosis.id} [{verdict.effect.part}]: {diagnosis.message}")
            section.lines += [f"  fix: {fix_text(fix)} — {fix.reason}" for fix in diagnosis.fixes]
    if not section.lines:
        section.lines.append("no part hurts, and none costs time for nothing, beyond seed noise")
    return section


def _landmarks(verdicts: list[PartVerdict], unit: str) -> Section:
    names = list(verdicts[0].effect.table.index) if verdicts else []
    section = Section(f"Effect per landmark ({unit}; ▲ hurts, ▼ helps, beyond seed noise and image by image)",
                      headers=["landmark", *(verdict.effect.part for verdict in verdicts)])
    for name in names:
        cells = []
        for verdict in verdicts:
            row = verdict.effect.table.loc[name]
            cells.append(f"{number(row['effect'], sign=True)}{MARKS.get(row['verdict'], '')}")
        section.rows.append([name, *cells])
    return section


def _noise(result: AblationResult) -> Section:
    noise = result.noise
    section = Section("Seed noise")
    if not noise.measured:
        section.lines.append("not measured: one finished reference run (ablate with --seeds 2 or more)")
        return section
    section.lines.append(
        f"{noise.seeds} reference runs: a landmark's mean error moves by {noise.relative_sd:.1%} (σ, pooled over "
        f"landmarks, {noise.degrees_of_freedom} degrees of freedom) from seed to seed; a part's effect counts "
        f"beyond {noise.factor:.2f} σ × the MRE overall, and beyond {noise.landmark_factor:.2f} σ × the landmark's "
        "error (and its own range across seeds) for one landmark among all")
    references = [result.answers[v.name] for v in result.plan.references if v.name in result.answers]
    section.lines.append("reference MRE by seed: " + ", ".join(
        f"{answer.variant} {np.nanmean(answer.errors.to_numpy()):.2f} {result.unit}" for answer in references))
    return section


# -- pictures -------------------------------------------------------------------------------------


def effect_map(verdicts: list[PartVerdict], unit: str) -> Figure:
    names = list(verdicts[0].effect.table.index)
    effects = np.array([verdict.effect.table["effect"].to_numpy(float) for verdict in verdicts])
    found = np.array([[v in (HURTS, HELPS) for v in verdict.effect.table["verdict"]] for verdict in verdicts])
    figure = Figure(figsize=(1.2 + 0.42 * len(names), 1.4 + 0.45 * len(verdicts)), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    limit = float(np.nanmax(np.abs(effects), initial=0.0)) or 1.0
    shown = np.where(found, effects, np.nan)
    ax.imshow(np.where(found, np.nan, 0.0), cmap="Greys", vmin=-1, vmax=4, aspect="auto")  # grey: no finding
    image = ax.imshow(shown, cmap="RdYlGn_r", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
    for (row, column), value in np.ndenumerate(effects):
        if np.isfinite(value):
            ax.text(column, row, f"{value:+.1f}", ha="center", va="center", fontsize=7,
                    color="black" if found[row, column] else "#5d6d7e")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(verdicts)), [verdict.effect.part for verdict in verdicts], fontsize=8)
    figure.colorbar(image, ax=ax, label=f"effect of the part ({unit}, + worse)", shrink=0.8)
    ax.set_title("Findings coloured; grey: within seed noise or not significant image by image", fontsize=9)
    return figure


def effect_bars(verdicts: list[PartVerdict], unit: str) -> Figure:
    figure = Figure(figsize=(6.5, 0.9 + 0.45 * len(verdicts)), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    positions = np.arange(len(verdicts))[::-1]
    for position, verdict in zip(positions, verdicts):
        overall = verdict.effect.overall
        band = overall["band"] if np.isfinite(overall["band"]) else 0.0
        ax.barh(position, 2 * band, left=-band, color="#d5dbdb", height=0.7)  # the noise band around zero
        colour = {HURTS: HURT_COLOUR, HELPS: HELP_COLOUR}.get(overall["verdict"], NOISE_COLOUR)
        ax.plot([overall["effect"]], [position], "o", color=colour, markersize=8)
    ax.axvline(0.0, color="#5d6d7e", linewidth=0.8)
    ax.set_yticks(positions, [verdict.effect.part for verdict in verdicts], fontsize=9)
    ax.set_xlabel(f"effect on the mean radial error ({unit}, + the part makes it worse); grey: seed-noise band")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def pictures(verdicts: list[PartVerdict], unit: str) -> list[tuple[str, str, bytes]]:
    if not verdicts:
        return []
    return [("effects.png", "Each part's effect on the mean error, with the seed-noise band", _png(effect_bars(verdicts, unit))),
            ("effect_map.png", "Each part's effect per landmark", _png(effect_map(verdicts, unit)))]


# -- renderers ------------------------------------------------------------------------------------


def print_report(result: AblationResult, verdicts: list[PartVerdict], console: Console) -> None:
    print_sections(sections(result, verdicts), console, full_tables=True)


def markdown(result: AblationResult, verdicts: list[PartVerdict], figure_ref=None) -> str:
    text = [f"# Ablation: which part is at fault ({result.plan.folder.name})", ""]
    text += markdown_sections(sections(result, verdicts))
    for name, title, png in pictures(verdicts, result.unit) if figure_ref else []:
        text += [f"## {title}", "", f"![{title}]({figure_ref(name, png)})", ""]
    return "\n".join(text)


def write_markdown(result, verdicts, out: Path) -> Path:
    """FILE.md, its pictures beside it (FILE-effects.png …)."""
    def beside(name: str, png: bytes) -> str:
        path = out.with_name(f"{out.stem}-{name}")
        atomic_write_bytes(path, png)
        return path.name

    atomic_write_bytes(out, markdown(result, verdicts, beside).encode("utf-8"))
    return out


def write_html(result, verdicts, out: Path) -> Path:
    style = (templates_dir() / "style.css").read_text(encoding="utf-8")
    body = []
    for section in sections(result, verdicts):
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.headers:
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in section.headers)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                           for row in section.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if section.lines:
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in section.lines) + "</ul>")
    for _, title, png in pictures(verdicts, result.unit):
        body.append(f"<h2>{html.escape(title)}</h2><img alt=\"{html.escape(title)}\" src=\"{data_uri(png)}\">")
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>ceph-doctor ablation</title>"
            f"<style>{style}</style></head><body><main>{''.join(body)}</main></body></html>")
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


def to_json(result: AblationResult, verdicts: list[PartVerdict]) -> dict:
    noise = result.noise
    return {
        "schema": 1,
        "ablation": str(result.plan.folder),
        "mode": result.plan.mode,
        "seeds": result.plan.seeds,
        "unit": result.unit,
        "noise": {"seeds": noise.seeds, "relative_sd": _plain(noise.relative_sd),
                  "degrees_of_freedom": noise.degrees_of_freedom, "factor": _plain(noise.factor)},
        "parts": [_part_json(verdict) for verdict in verdicts],
        "missing": result.missing,
        "notes": result.notes,
    }


def _part_json(verdict: PartVerdict) -> dict:
    effect, cost = verdict.effect, verdict.effect.cost
    return {
        "name": effect.part, "variant": effect.variant, "off": effect.off,
        **{key: _plain(value) for key, value in effect.overall.items()},
        "hurt": effect.hurt, "helped": effect.helped,
        "cost": {"seconds_per_epoch_with": _plain(cost.seconds_with), "seconds_per_epoch_without": _plain(cost.seconds_without),
                 "images_per_s_with": _plain(cost.images_per_s_with), "images_per_s_without": _plain(cost.images_per_s_without),
                 "relative": _plain(cost.relative), "costs_time": cost.costs_time},
        "landmarks": [{"name": name, **{key: _plain(value) for key, value in row.items()}}
                      for name, row in effect.table.iterrows()],
        "diagnoses": [diagnosis.to_json() for diagnosis in verdict.diagnoses],
    }


def _plain(value):
    if isinstance(value, (float, np.floating)):
        return json_value(float(value)) if math.isfinite(value) else None
    return json_value(value)


def json_text(result, verdicts) -> str:
    return json.dumps(to_json(result, verdicts), indent=1)
