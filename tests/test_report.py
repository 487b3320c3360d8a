"""The renderers on a real tiny run with hand-made diagnoses: JSON shape, self-contained and escaped
HTML, Markdown with its PNGs, the terminal text, and figures skipped when their data is missing."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY  # tests/ is on sys.path (rootdir conftest, no package)
from markdown_it import MarkdownIt
from rich.console import Console
from setuptools import find_namespace_packages

from ceph_doctor import load_run
from ceph_doctor.config import load_config
from ceph_doctor.engine.diagnosis import Diagnosis, Fix, NotChecked, RunReport
from ceph_doctor.report import render_html, render_json, render_markdown, render_terminal, run_figures
from ceph_doctor.report.document import templates_dir
from ceph_doctor.report.markdown import code_span, escape_markdown
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
EVIL = "<script>alert(1)</script>"
POINT_FIGURES = {"error_heatmap", "landmark_errors", "sample_overlay", "mean_shape", "error_kinds",
                 "error_kinds_over_training", "worst_images"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("report") / "run"
    config = load_config(None, [*TINY, "train.max_epochs=3"])
    Trainer(config, run_dir, hooks=[Recorder(run_dir)]).fit()
    return load_run(run_dir)


def diagnoses():
    return [
        Diagnosis("val-plateau", "info", "flat for 2 validations", epoch=2),
        Diagnosis(
            "prediction-collapse", "error", f"predictions bunch together {EVIL}", epoch=2,
            landmarks=["Sella", EVIL], title="Predictions collapse",
            evidence={"collapse.spread_ratio": np.float32(0.05), "collapse.first": float("nan"),
                      "collapse.where": np.array([1.5, 2.0])},
            fixes=[Fix("optimizer.lr", "multiply", 0.2, "a smaller step keeps the heatmaps apart"),
                   Fix("codec.sigma", "set", 3, "wider targets")],
        ),
        Diagnosis("landmark-regression", "warning", "Sella got worse", epoch=3, landmarks=["Sella"]),
    ]


def report_for(run, path=None, with_diagnoses=True):
    needs = [NotChecked("exposure-bias.gap", f"val/loss_tf and val/loss_ar {EVIL}")]
    return RunReport(path or str(run.path), "ceph-doctor", diagnoses() if with_diagnoses else [], needs, run=run)


def bare_run(run):
    """What an import of someone else's logs may give: no predictions, only the training loss."""
    bare = copy.copy(run)
    bare.predictions = run.predictions.iloc[0:0]
    bare.scalars = run.scalars[run.scalars["tag"] == "train/loss"].reset_index(drop=True)
    bare.manifest = {"schema_version": 1}
    return bare


def test_json_has_the_design_shape(tiny_run):
    reports = [report_for(tiny_run), report_for(bare_run(tiny_run), with_diagnoses=False)]
    document = json.loads(render_json(reports))
    assert document["schema"] == 1 and len(document["runs"]) == 2
    run = document["runs"][0]
    assert set(run) == {"path", "source", "monitor", "diagnoses", "plan", "unread", "not_checked", "parts_not_seen"}
    assert [d["severity"] for d in run["diagnoses"]] == ["error", "warning", "info"]
    for diagnosis in run["diagnoses"]:
        assert set(diagnosis) == {"id", "severity", "message", "epoch", "landmarks", "evidence", "units", "fixes",
                                  "explains"}
        for fix in diagnosis["fixes"]:
            assert set(fix) == {"key", "op", "value", "reason"} and fix["op"] in {"set", "multiply", "enable"}
    # The treatment plan: one step per key, from the run's config (lr 0.001 by default) to the new value.
    assert [(step["key"], step["current"], step["new"], step["set"]) for step in run["plan"]] == [
        ("optimizer.lr", 0.001, 0.0002, "--set optimizer.lr=0.0002"), ("codec.sigma", 2.0, 3, "--set codec.sigma=3")]
    assert run["plan"][0]["asked_by"] == [{"id": "prediction-collapse",
                                           "reason": "a smaller step keeps the heatmaps apart"}]
    evidence = run["diagnoses"][0]["evidence"]
    assert evidence == {
        "collapse.spread_ratio": pytest.approx(0.05), "collapse.first": None, "collapse.where": [1.5, 2.0],
    }
    assert run["not_checked"] == [{"signal": "exposure-bias.gap", "needs": f"val/loss_tf and val/loss_ar {EVIL}"}]
    assert document["runs"][1]["diagnoses"] == []


def test_html_is_one_self_contained_escaped_file(tiny_run, tmp_path):
    out = render_html([report_for(tiny_run, path=f"runs/{EVIL}")], tmp_path / "report.html")
    html = out.read_text()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert links and all(link.startswith(("data:", "#")) for link in links)
    assert "<link" not in html and "url(" not in html and "@import" not in html
    images = re.findall(r'<img src="data:image/png;base64,', html)
    assert len(images) >= 5
    for marker in ("prediction-collapse", "Treatment plan", "0.001 → 0.0002", "--set optimizer.lr=0.0002",
                   "a smaller step keeps the heatmaps apart", "exposure-bias.gap", "Not checked"):
        assert marker in html
    assert list(tmp_path.iterdir()) == [out]  # nothing beside it


def test_markdown_writes_the_figures_it_references(tiny_run, tmp_path):
    out = render_markdown([report_for(tiny_run)], tmp_path / "my report.md")
    text = out.read_text()
    references = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(references) >= 5
    for reference in references:
        assert (out.parent / reference.replace("%20", " ")).is_file()
    assert {p.name for p in (tmp_path / "my report_figures").iterdir()} == {Path(r).name for r in references}
    rendered = MarkdownIt("commonmark").render(text)
    assert "<script>" not in rendered and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "<code>--set optimizer.lr=0.0002</code>" in rendered and "0.001 → 0.0002" in rendered


def test_figures_are_skipped_when_their_data_is_missing(tiny_run, tmp_path):
    full = {figure.name for figure in run_figures(tiny_run, diagnoses())}
    assert POINT_FIGURES | {"learning_curves"} <= full and "sequence_curves" not in full
    bare = bare_run(tiny_run)
    assert [figure.name for figure in run_figures(bare, diagnoses())] == ["learning_curves"]
    bare.scalars = bare.scalars.iloc[0:0]
    assert run_figures(bare, diagnoses()) == []
    html = render_html([report_for(bare)], tmp_path / "bare.html").read_text()
    assert "<img" not in html and "prediction-collapse" in html
    render_markdown([report_for(bare)], tmp_path / "bare.md")
    assert not (tmp_path / "bare_figures").exists()


def test_sequence_figure_appears_with_teacher_forced_and_autoregressive_tags(tiny_run):
    rows = []
    for epoch in (1, 2, 3):
        rows += [(epoch, "val/loss_tf", 1.0 / epoch), (epoch, "val/loss_ar", 4.0 / epoch)]
        rows += [(epoch, f"val/error_by_position/{k:03d}", 10.0 * (k + 1)) for k in range(5)]
    extra = pd.DataFrame([{"step": 10 * e, "epoch": e, "tag": t, "value": v, "wall_time": 0.0} for e, t, v in rows])
    run = copy.copy(tiny_run)
    run.scalars = pd.concat([tiny_run.scalars, extra], ignore_index=True)
    figures = run_figures(run)
    assert figures[-1].name == "sequence_curves"
    assert all(figure.png.startswith(b"\x89PNG") for figure in figures)


def test_terminal_prints_ids_fixes_and_what_was_not_checked(tiny_run):
    console = Console(record=True, width=140, color_system=None)
    bad = diagnoses()
    bad[1].landmarks.append("[bold]Gonion[/bold]")  # rich markup in a name prints as typed
    render_terminal([RunReport(str(tiny_run.path), "ceph-doctor", bad, [NotChecked("x.y", "log z")], run=tiny_run)],
                    console)
    text = console.export_text()
    for marker in ("prediction-collapse", "landmark-regression", "val-plateau", "treatment plan", "0.001 → 0.0002",
                   "--set codec.sigma=3", "wider targets", "not checked", "x.y", "log z", EVIL, "[bold]Gonion[/bold]"):
        assert marker in text
    assert text.index("prediction-collapse") < text.index("landmark-regression") < text.index("val-plateau")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a_b*c", r"a\_b\*c"),
        (EVIL, r"\<script\>alert(1)\</script\>"),
        ("# heading", r"\# heading"),
        ("1. item", r"1\. item"),
        ("- item", r"\- item"),
        ("two\n# lines", "two # lines"),
        ("0.75 mm, -0.2", "0.75 mm, -0.2"),
        ("[link](x) | $x$", r"\[link\](x) \| \$x\$"),
    ],
)
def test_markdown_escaping(raw, escaped):
    assert escape_markdown(raw) == escaped


def test_code_spans_survive_backticks():
    assert str(code_span("a`b")) == "``a`b``"
    assert MarkdownIt("commonmark").renderInline(str(code_span("`x`"))) == "<code>`x`</code>"


def test_templates_ship_inside_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    assert {"report.html.j2", "report.md.j2", "style.css"} <= {p.name for p in templates_dir().iterdir()}
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["ceph_doctor.reports"] == "reports"
    assert {"*.j2", "*.css"} <= set(setuptools["package-data"]["ceph_doctor.reports"])
    # The package list is explicit (package-dir needs it): a sub-package left out is missing from the wheel.
    missing = set(find_namespace_packages(where=str(ROOT), include=["ceph_doctor*"])) - set(setuptools["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_every_landmark_of_every_dataset_gets_its_own_colour():
    from ceph_doctor.report.drawing import landmark_colours

    for count in (19, 29, 38):  # ISBI 2015, Aariz, CL-detection 2023
        assert len(set(landmark_colours(count))) == count


def test_diagnoses_are_named_in_the_legend_not_written_over_each_other():
    from matplotlib.figure import Figure

    from ceph_doctor.report.figures import _mark_epochs

    ax = Figure().subplots()
    ax.plot([1, 2, 3, 4], [4, 3, 2, 3], label="val/mre_mm")
    close = [Diagnosis("overfitting", "warning", "…", epoch=2), Diagnosis("val-plateau", "warning", "…", epoch=3)]
    _mark_epochs(ax, 2, close)
    labels = ax.get_legend_handles_labels()[1]
    assert "overfitting (from epoch 2)" in labels and "val-plateau (from epoch 3)" in labels
    assert not ax.texts  # nothing written on the plot itself


def test_a_single_validation_is_not_called_healthy(tiny_run):
    one = copy.copy(tiny_run)
    one.scalars = tiny_run.scalars[tiny_run.scalars["epoch"] <= 1].reset_index(drop=True)
    console = Console(record=True, width=120, color_system=None)
    render_terminal([RunReport(str(one.path), "ceph-doctor", [], [], run=one)], console)
    text = console.export_text()
    assert "not judged" in text and "validated 1 time" in text and "no problems found" not in text
