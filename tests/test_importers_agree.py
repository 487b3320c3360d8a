"""The scenario runs, logged again through each format another tool writes, get the same diagnosis
ids as the native run wherever the format carries the data the rule needs.

Each scenario is trained once at test size; its scalars are written again as TensorBoard events
(torch's SummaryWriter, with an `epoch` scalar), as a plain CSV with an epoch column, and as an
MMEngine `vis_data/scalars.json`; its validation predictions as a text log of `Epoch N` headers
and `pred=(x, y) gt=(x, y) error=e` lines. Each copy is imported and analyzed. The expected ids
for a copy are the native ids less those of rules that could not be checked on the copy (a
signal they read is missing there: the format does not carry it) — and the copy must give
exactly those.

Limits of the formats, by design and not importer bugs:
- scalar formats (TensorBoard, CSV, MMEngine) carry no predictions: the rules on per-landmark
  errors, collapse and coordinates are "not checked" there;
- the text log carries only validation predictions (pixels, no mm, no train split, no scalars
  but the per-epoch mean error): the loss, lr and gradient rules are "not checked" there;
- a diagnosis the native run folds under another (`explains`: a collapse explains the overfitting
  its curves show) stands on its own on a copy that cannot check the explaining rule — on
  collapse_high_lr the scalar copies see the val metric rise while the losses fall, and cannot tell
  it is a collapse; on coordinate_bug they see a plateau without the coordinates behind it;
- what ceph-doctor's own config sets (the milestones of `behind-schedule`) is in no other format: the rules it
  feeds are not checked on a copy;
- a rule may read a signal only under a `has()` guard. A copy without that signal is judged without
  the guard; for such a rule the expected verdict is the rule on the native signal values less those
  the copy lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ceph_doctor.analyze import analyze_run
from ceph_doctor.engine import load_rules
from ceph_doctor.engine.expr import names as expression_names
from ceph_doctor.engine.expr import plain
from ceph_doctor.importers import discover
from ceph_doctor.importers.names import Logged, NameMap
from ceph_doctor.scenarios import all_scenarios
from ceph_doctor.store import load_run

SCENARIOS = {scenario.name: scenario for scenario in all_scenarios()}
FORMATS = ("tensorboard", "csv", "mmengine", "text")
# Where the copy must still give something: (format, scenario) → ids it must keep.
MUST_KEEP = {
    ("tensorboard", "diverged"): {"diverged"},
    ("csv", "diverged"): {"diverged"},
    ("mmengine", "diverged"): {"diverged"},
    ("tensorboard", "overfitting"): {"overfitting"},
    ("csv", "overfitting"): {"overfitting"},
    ("mmengine", "overfitting"): {"overfitting"},
    ("text", "collapse_high_lr"): {"prediction-collapse"},
    ("text", "coordinate_bug"): {"coordinate-mismatch"},
    ("tensorboard", "exposure_bias"): {"exposure-bias"},
    ("csv", "exposure_bias"): {"exposure-bias"},
    ("mmengine", "exposure_bias"): {"exposure-bias"},
}


# --------------------------------------------------------------- writers
def write_tensorboard(run, folder: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step, rows in run.scalars.sort_values(["step", "tag"], kind="stable").groupby("step", sort=True):
        writer.add_scalar("epoch", float(rows["epoch"].iloc[0]), int(step))
        for tag, value in zip(rows["tag"], rows["value"]):
            writer.add_scalar(str(tag), float(value), int(step))
    writer.close()


def write_csv(run, folder: Path) -> None:
    """One row per step, one column per tag; a value logged as NaN/inf is written `nan`/`inf`, a tag
    not logged at that step is an empty cell (what CSV loggers do)."""
    folder.mkdir(parents=True)
    scalars = run.scalars.drop_duplicates(["step", "tag"], keep="last")
    cells = scalars.assign(value=[repr(float(v)) for v in scalars["value"]])
    wide = cells.pivot(index=["step", "epoch"], columns="tag", values="value").reset_index()
    wide.to_csv(folder / "metrics.csv", index=False, na_rep="")


def write_mmengine(run, folder: Path) -> None:
    """Scalars as MMEngine's `vis_data/scalars.json`: one line per step with `epoch` and `iter` (a train
    line); ceph-doctor's tags already are canonical, so the names pass through the name table unchanged."""
    vis = folder / "20260101_000000" / "vis_data"
    vis.mkdir(parents=True)
    lines = []
    for (step, epoch), rows in run.scalars.groupby(["step", "epoch"], sort=True):
        record = {"epoch": int(epoch), "iter": int(step), "step": int(step)}
        record.update({str(tag): float(value) for tag, value in zip(rows["tag"], rows["value"])})
        lines.append(json.dumps(record))
    (vis / "scalars.json").write_text("\n".join(lines) + "\n")


def write_text(run, folder: Path) -> None:
    folder.mkdir(parents=True)
    predictions = run.predictions[run.predictions["split"] == "val"]
    # What a script would print: the predictions inference makes (a sequence decoder's autoregressive ones).
    decode = "autoregressive" if (predictions["decode"] == "autoregressive").any() else "heatmap"
    val = predictions[predictions["decode"] == decode]
    lines = []
    for epoch, rows in val.sort_values(["epoch", "image_id", "landmark_index"]).groupby("epoch"):
        lines.append(f"Epoch {int(epoch)}")
        for row in rows.itertuples():
            lines.append(f"image={row.image_id} landmark={row.landmark} pred=({row.pred_x:.4f}, {row.pred_y:.4f}) "
                         f"gt=({row.true_x:.4f}, {row.true_y:.4f}) error={row.error_px:.4f}")
    (folder / "train.log").write_text("\n".join(lines) + "\n")


WRITERS = {"tensorboard": write_tensorboard, "csv": write_csv, "mmengine": write_mmengine, "text": write_text}


# --------------------------------------------------------------- fixture
@pytest.fixture(scope="module")
def agreement(tmp_path_factory, scenario_runs):
    """(format, scenario) → (native ids, imported ids, ids of rules not checkable on the copy)."""
    out = tmp_path_factory.mktemp("agree")
    rules = load_rules()
    results = {}
    for name in SCENARIOS:
        native_run = load_run(scenario_runs[name])
        native_report = analyze_run(native_run, rules)
        native = {d.id for d in native_report.diagnoses}
        folded = {d.id: {e.id for e in d.explains} for d in native_report.diagnoses}
        native_values = {key: plain(signal.value) for key, signal in native_report.signals.values.items()}
        for fmt in FORMATS:
            folder = out / fmt / name
            WRITERS[fmt](native_run, folder)
            runs, skipped = discover(folder)
            assert len(runs) == 1, (fmt, name, skipped)
            report = analyze_run(runs[0], rules)
            missing = {item.signal for item in report.not_checked}
            # A part the copy's logs show no trace of (a text log of predictions has no losses) is not checked, nor
            # what the run's own config sets and no other format carries (milestones, a reference run).
            not_carried = set(report.signals.inapplicable) - set(native_report.signals.inapplicable)
            unseen = set(report.signals.unseen) | not_carried
            unchecked = {rule.id for rule in rules if missing & set(rule.required_signals)
                         or any(name.split(".", 1)[0] in unseen for name in rule.required_signals)}
            # What a rule the copy cannot check explained natively is no longer explained on the copy.
            unfolded = {child for parent, children in folded.items() if parent in unchecked for child in children}
            expected = (native | unfolded) - unchecked
            lacking = set(native_values) - set(report.signals.values)
            for rule in rules:  # guarded reads (`has(x) and ...`) of a signal the copy lacks
                if rule.id not in unchecked and lacking & (expression_names(rule.when) - set(rule.required_signals)):
                    seen = {key: value for key, value in native_values.items() if key not in lacking}
                    expected = (expected | {rule.id}) if rule.holds(seen) else (expected - {rule.id})
            results[fmt, name] = (native, {d.id for d in report.diagnoses}, unchecked, expected, native_run, runs[0])
    return results


@pytest.mark.parametrize("fmt", FORMATS)
def test_imported_copy_gives_the_native_ids_it_can_check(agreement, fmt):
    problems = []
    for name in SCENARIOS:
        native, imported, unchecked, expected, *_ = agreement[fmt, name]
        if imported != expected:
            problems.append(f"{name}: expected {sorted(expected)}, got {sorted(imported)} "
                            f"(native {sorted(native)}, not checkable {sorted(unchecked & native)})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fmt, name", sorted(MUST_KEEP))
def test_copy_keeps_the_diagnoses_its_format_carries(agreement, fmt, name):
    native, imported, unchecked, expected, *_ = agreement[fmt, name]
    assert MUST_KEEP[fmt, name] <= native, f"the native {name} run lost {MUST_KEEP[fmt, name] - native}"
    assert MUST_KEEP[fmt, name] <= expected and MUST_KEEP[fmt, name] <= imported


@pytest.mark.parametrize("fmt", FORMATS)
def test_copy_is_read_with_the_native_epochs(agreement, fmt):
    """Epoch numbering survives the round trip (0- or 1-based writers, epochs inferred or logged)."""
    for name in SCENARIOS:
        *_, native_run, run = agreement[fmt, name]
        assert run.source == fmt
        if fmt == "text":
            native = native_run.predictions[native_run.predictions["split"] == "val"]
            assert sorted(set(run.predictions["epoch"])) == sorted(set(native["epoch"])), name
            continue
        for tag in ("train/loss", "val/mre_mm"):
            ours, theirs = native_run.scalars, run.scalars
            ours = ours[ours["tag"] == tag][["step", "epoch"]].drop_duplicates().reset_index(drop=True)
            theirs = theirs[theirs["tag"] == tag][["step", "epoch"]].drop_duplicates().reset_index(drop=True)
            assert ours.astype("int64").equals(theirs.astype("int64")), (name, tag)


def test_every_tag_a_native_run_writes_reads_back_as_itself(scenario_runs):
    """ceph-doctor's own tags are canonical: a copy in any format keeps them, so a signal that reads one
    by name (`train/eval_loss`, `val/sdr_2mm_tf`) finds it on the copy too."""
    problems = []
    for name, folder in scenario_runs.items():
        tags = sorted(set(load_run(folder).scalars["tag"]))
        resolved, _, _ = NameMap().resolve([Logged(tag) for tag in tags])
        problems += [f"{name}: {key.name} → {tag}" for key, tag in resolved.items() if tag != key.name]
    assert not problems, "\n".join(problems)


def test_a_part_the_run_does_not_have_is_not_listed_as_not_checked(scenario_runs, tmp_path):
    """The plain U-Net has no sequence decoder, second task, views or refinement stage: their rules are not for
    it, so "not checked" does not list them; a CSV copy of the same run cannot know that from a config, but its
    logs show no trace of those parts, and it says so once instead of listing their signals."""
    rules = load_rules()
    native = load_run(scenario_runs["healthy"])
    parts = ("sequence.", "tasks.", "tta.", "refine.")
    listed = {item.signal for item in analyze_run(native, rules).not_checked}
    assert not [name for name in listed if name.startswith(parts)], listed
    write_csv(native, tmp_path / "copy")
    runs, _ = discover(tmp_path / "copy")
    copy = analyze_run(runs[0], rules)
    assert not [item.signal for item in copy.not_checked if item.signal.startswith(parts)]
    assert {"a sequence decoder", "a second task", "test-time augmentation", "a refinement stage"} <= set(
        copy.unseen_parts)
    # Where the part is on, its rules are still checked or said to be unchecked.
    tta_run = load_run(scenario_runs["healthy_tta"])
    assert "tta.hurt_count" in analyze_run(tta_run, rules).signals.values
