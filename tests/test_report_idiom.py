"""The treatment plan in the user's idiom: the MMEngine config line for an MMEngine work dir, Lightning's
Trainer argument for a Lightning folder, `--set` for ceph-doctor's own runs, and `current → new` wherever the
run's config records the current value."""

from __future__ import annotations

import io
import json

import pandas as pd
from rich.console import Console

from ceph_doctor.engine.diagnosis import Diagnosis, Fix, RunReport
from ceph_doctor.report.document import document_runs
from ceph_doctor.report.html import render_html
from ceph_doctor.report.json_report import render_json
from ceph_doctor.report.markdown import render_markdown
from ceph_doctor.report.terminal import render_terminal
from ceph_doctor.store.reader import Run

FIXES = [Fix("optimizer.lr", "multiply", 0.01, "smaller steps"), Fix("train.grad_clip", "enable", 1.0, "clip"),
         Fix("model.channels", "set", 16, "no idiom for this key")]
LINE = "optim_wrapper = dict(optimizer=dict(lr=0.1))"


def report(source: str, config: dict) -> RunReport:
    scalars = pd.DataFrame({"step": [1, 2], "epoch": [1, 1], "tag": ["train/loss"] * 2, "value": [1.0, 2.0],
                            "wall_time": [0.0, 0.0]})
    run = Run(f"/logs/{source}", {"config": config, "status": "imported"}, scalars,
              pd.DataFrame(), source=source)
    diagnosis = Diagnosis("diverged", "error", "The loss became NaN.", fixes=FIXES, title="Training diverged")
    return RunReport(f"/logs/{source}", source, [diagnosis], [], run=run)


def terminal_text(reports) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_terminal(reports, console)
    return console.file.getvalue()


def how(report_) -> list[str]:
    return [row.how for row in document_runs([report_], figure_ref=None)[0].plan]


def test_mmengine_fixes_show_the_config_line_everywhere(tmp_path):
    mm = report("mmengine", {"optimizer": {"lr": 10.0}})
    assert how(mm) == [LINE, "optim_wrapper = dict(clip_grad=dict(max_norm=1.0))", ""]
    assert LINE in terminal_text([mm])
    markdown = render_markdown([mm], tmp_path / "report.md").read_text()
    assert "dict(lr=0.1)" in markdown and "10 → 0.1" in markdown
    assert markdown.count("optim_wrapper") == 2  # no line for a key MMEngine has no spelling of
    html = render_html([mm], tmp_path / "report.html").read_text()
    assert "<code>optim_wrapper = dict(optimizer=dict(lr=0.1))</code>" in html


def changes(report_) -> list[str]:
    return [row.change for row in document_runs([report_], figure_ref=None)[0].plan]


def test_other_imported_sources_show_current_to_new_when_known():
    csv = report("csv", {"optimizer": {"lr": 0.5}})
    assert changes(csv) == ["0.5 → 0.005", "off → 1", "? → 16"] and how(csv) == ["", "", ""]
    assert "0.5 → 0.005" in terminal_text([csv])
    unknown = report("tensorboard", {})
    assert changes(unknown) == ["× 0.01", "off → 1", "? → 16"] and how(unknown) == ["", "", ""]
    assert "--set" not in terminal_text([unknown])  # another tool's run is not trained with ceph-doctor's options
    native = report("ceph-doctor", {"optimizer": {"lr": 0.5}})
    # Completed with today's defaults, as --emit-config writes it: a key already so is no step of the plan.
    assert how(native) == ["--set optimizer.lr=0.005", "--set train.grad_clip=1"]
    assert document_runs([native], figure_ref=None)[0].plan_unchanged == ["model.channels is already 16 (diverged)"]


def test_json_shape_is_unchanged():
    data = json.loads(render_json([report("mmengine", {"optimizer": {"lr": 10.0}})]))
    fix = data["runs"][0]["diagnoses"][0]["fixes"][0] if "runs" in data else data[0]["diagnoses"][0]["fixes"][0]
    assert set(fix) == {"key", "op", "value", "reason"}


def test_lightning_runs_show_the_trainer_argument(tmp_path):
    from ceph_doctor.importers import discover

    folder = tmp_path / "lightning_logs" / "version_0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch,step,train_loss_step,val_loss\n" + "".join(
        f"{e},{e * 4},{1 / (e + 1):.3f},{0.9 / (e + 1):.3f}\n" for e in range(4)))
    (folder / "hparams.yaml").write_text("max_epochs: 40\nlearning_rate: 0.002\n")
    [run] = discover(tmp_path)[0]
    assert run.manifest["framework"] == {"name": "lightning"}
    fixes = [Fix("train.max_epochs", "multiply", 0.5, "shorter"), Fix("optimizer.lr", "multiply", 0.1, "smaller")]
    diagnosis = Diagnosis("overfitting", "warning", "…", fixes=fixes)
    assert how(RunReport(str(run.path), run.source, [diagnosis], [], run=run)) == [
        "Trainer(max_epochs=20)", "configure_optimizers(): lr=0.0002"]
