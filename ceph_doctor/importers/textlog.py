"""Text logs: what a training script prints, captured to a file.

Python logging and print lines (`Epoch [3/100] Train Loss: 0.12 Val Loss: 0.20`, `epoch=3 loss=0.1`),
Keras' console (`Epoch 3/50` then `- loss: … - val_loss: …`), tqdm and Lightning progress bars
(`\\r`-separated updates whose postfix carries the metrics), mmcv's text log, and per-landmark debug
lines (`pred=(x, y) gt=(x, y)` under epoch and image headers) or JSON lines with pred/gt arrays.
Each line is read by `textlines.read_line`; this module places the lines in time and in runs.

- Steps: an iteration the line names, else a bar's position within its epoch, else the line's order.
- A value printed on every update of a progress bar (`_thin_repeats`) is one value per step when it
  changes all through an epoch (a per-step loss); otherwise one per epoch, kept where it changed since
  the epoch before: a validation metric shown stale until the next validation is not logged again
  (a validation that prints exactly the value of the one before is then missed).
- One file may hold several runs (`textruns.split_runs`); a resumed run (epochs back, but not to the
  start) stays one run, its later lines replacing the earlier, and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ceph_doctor.importers import Logged, Part, non_finite_note, rows_to_columns, scalar_table
from ceph_doctor.importers.names import NameMap
from ceph_doctor.importers.predictions import jsonl_predictions, prediction_frame
from ceph_doctor.importers.tables import infer_epoch
from ceph_doctor.importers.configs import canonical
from ceph_doctor.importers.textlines import Line, read_line, settings
from ceph_doctor.importers.textruns import split_runs
from ceph_doctor.store.meaning import parse

NAME = "text"
MIN_METRIC_LINES = 2  # lines with a position and a metric before a text file counts as a training log


def records(text: str) -> list[tuple[int, Line]]:
    """(line number, what it says) for every line and bar update that says something."""
    out = []
    started = False  # a line placed in training was seen: what comes before it may be printed settings
    for number, raw in enumerate(text.split("\n"), start=1):
        for piece in raw.split("\r") if "\r" in raw else (raw,):
            if piece.strip():
                line = read_line(piece)
                started = started or line.placed
                if line.values or line.prediction or line.image or line.placed or line.broken or (
                        not started and ("=" in piece or ":" in piece)):
                    out.append((number, line))
    return out


def sniff(path: Path, head: bytes) -> bool:
    text = head.decode("utf-8", "replace")
    if text.lstrip().startswith("{") and jsonl_predictions_text(text):
        return True
    found, placed = 0, False
    for _, line in records(text):
        if line.prediction:
            return True
        placed = placed or line.placed  # Keras prints `Epoch 3/50` on a line of its own, the values below it
        found += bool(placed and any(parse(v.name).quantity not in ("count", None) for v in line.values))
        if found >= MIN_METRIC_LINES:
            return True
    return False


def jsonl_predictions_text(text: str) -> bool:
    return '"pred' in text and ('"gt' in text or '"true' in text or '"target' in text)


def run_root(path: Path) -> Path:
    """The folder; for a file an MLflow run keeps as an artifact (predictions, a log), that run."""
    from ceph_doctor.importers.mlflow import artifact_run

    return artifact_run(path) or path.parent


def read(files: list[Path], names: NameMap) -> Part | list[Part]:
    segments: list[tuple[Path, list[tuple[int, Line]], str | None]] = []
    json_parts = []
    for file in files:
        text = file.read_bytes().decode("utf-8", "replace")  # no newline translation: `\r` splits bar updates
        if text.lstrip().startswith("{") and jsonl_predictions_text(text[:65536]):
            found = jsonl_predictions(file)
            if found is not None:
                json_parts.append((file, *found))
                continue
        runs = split_runs(records(text))
        for index, run in enumerate(runs, start=1):
            label = None
            if len(runs) > 1:
                epochs = [line.position.epoch for _, line in run if line.position.epoch is not None]
                span = f", epochs {min(epochs)}–{max(epochs)}" if epochs else ""
                label = (f"run {index} of {len(runs)} in {file.name} (lines {run[0][0]}–{run[-1][0]}{span}): "
                         f"the file holds {len(runs)} trainings, each read as its own run")
            segments.append((file, run, label))
    if len(segments) > 1 and any(label for _, _, label in segments):
        return [build([file], lines, names, label) for file, lines, label in segments]
    part = build(files, [line for _, lines, _ in segments for line in lines], names, None)
    for file, frame, notes in json_parts:
        part.predictions = frame if part.predictions is None or part.predictions.empty else part.predictions
        part.notes.extend(f"{file.name}: {note}" for note in notes)
    return part


@dataclass
class _State:
    epoch: int | None = None
    iteration: int | None = None
    image: str | None = None
    seen: set = field(default_factory=set)
    counter: int = 0  # lines (or bar positions) so far
    images: int = 0  # images named by position, for debug lines without image ids
    step: int = 0
    bar_key: tuple | None = None


def build(files: list[Path], lines: list[tuple[int, Line]], names: NameMap, label: str | None) -> Part:
    state = _State()
    rows: list[tuple] = []  # (step, epoch, Logged, value, wall)
    predictions: list[dict] = []
    unknown: set[str] = set()
    total_epochs = total_iterations = None
    orphans = broken = 0
    printed_settings: dict[str, str] = {}  # what the script printed of its settings before training
    resumes: list[str] = []
    has_ids = any(line.prediction and ("landmark" in line.prediction or "image" in line.prediction) or line.image
                  for _, line in lines)
    # Where lines say when they are, a number on an unplaced line before the first of them (a printed
    # config, an environment dump) is not a curve; after it, the line belongs to the epoch above it.
    positioned = any(line.placed for _, line in lines)
    for number, line in lines:
        position = line.position
        if position.epoch is not None and state.epoch is not None and position.epoch < state.epoch:
            resumes.append(f"resumed at epoch {position.epoch} (line {number}) after epoch {state.epoch}: "
                           "the later lines replace the earlier ones of the same epochs")
        if position.epoch is not None and position.epoch != state.epoch:
            state.epoch, state.image, state.seen = position.epoch, None, set()
        total_epochs = position.total_epochs or total_epochs
        if position.iteration is not None:
            state.iteration = position.iteration + (
                (position.epoch - 1) * position.total_iterations
                if position.epoch and position.total_iterations and position.epoch >= 1 else 0)
            if position.epoch is None:
                total_iterations = position.total_iterations or total_iterations
        state.step = _step(state, position, number)
        if line.image:
            state.image, state.seen = line.image, set()
        broken += line.broken
        if line.prediction is not None:
            if state.epoch is None and state.iteration is None:
                orphans += 1
                continue
            predictions.append(_prediction(line.prediction, state, has_ids))
            continue
        if positioned and not line.placed and not line.summary and state.epoch is None and state.iteration is None:
            for key, value in settings(line.text).items():
                printed_settings.setdefault(key, value)
            continue
        unknown.update(line.unknown)
        for value in line.values:
            key = Logged(value.name, value.split or position.split, value.unit)
            rows.append((state.step, state.epoch, key, value.value, None))
    rows = _thin_repeats(rows)
    frame = prediction_frame([p for p in predictions if p["epoch"] is not None]) if predictions else None
    scalars = scalar_table([rows_to_columns(rows)], names, zero_based=True)
    part = Part(scalars, predictions=frame, read=list(files), label=label, notes=resumes)
    if predictions and scalars.axis == "iteration" and any(p["epoch"] is None for p in predictions):
        _place_iteration_predictions(part, predictions, scalars)
    if orphans:
        part.notes.append(f"skipped {orphans} pred= line(s) before any epoch or iteration")
    if broken:
        part.notes.append(f"skipped {broken} pred= line(s) without a readable gt=(x, y)")
    if predictions and not has_ids:
        part.notes.append("pred= lines name no image or landmark: each line taken as one image of one point")
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        part.notes.append(f"numbers under names not understood, left out: {shown}"
                          + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "") + " (--map names them)")
    part.notes.extend(non_finite_note(scalars.table))
    config = canonical([((key,), value) for key, value in printed_settings.items()])
    if total_epochs:
        config.setdefault("train", {})["max_epochs"] = total_epochs
    if total_iterations:
        config.setdefault("train", {})["max_iters"] = total_iterations
    part.manifest = {"config": config} if config else {}
    return part


def _step(state: _State, position, number: int) -> int:
    """The iteration a line names (or the last one named: a validation line shares its step), else a new
    step per bar position, else per line."""
    if state.iteration is not None:
        return state.iteration
    if position.bar is not None:
        key = (state.epoch, position.bar[0])
        if key != state.bar_key:
            state.bar_key, state.counter = key, state.counter + 1
        return state.counter
    state.counter += 1
    return state.counter


def _prediction(found: dict, state: _State, has_ids: bool) -> dict:
    name = found.get("landmark")
    if found.get("image"):
        state.image = found["image"]
    elif not has_ids:
        state.images += 1
        state.image, name = f"line-{state.images}", "point"
    elif state.image is None or (name is not None and name in state.seen):
        state.images += 1  # a landmark seen again: the next image's block began
        state.image, state.seen = f"image-{state.images}", set()
    name = name or f"point-{len(state.seen)}"
    state.seen.add(name)
    return {"epoch": state.epoch, "step": state.iteration if state.epoch is None else state.step,
            "image_id": state.image, "landmark": name, **{k: found[k] for k in
                                                          ("pred_x", "pred_y", "true_x", "true_y")},
            **({"error_px": found["error_px"]} if "error_px" in found else {})}


def _thin_repeats(rows: list[tuple]) -> list[tuple]:
    """Keys printed more than once per epoch (progress bars): per step if they change all through an
    epoch, else per epoch where the epoch's last value differs from the epoch before's."""
    by_key: dict[Logged, list[int]] = {}
    for index, row in enumerate(rows):
        by_key.setdefault(row[2], []).append(index)
    keep: set[int] = set()
    for key, indices in by_key.items():
        by_epoch: dict = {}
        for index in indices:
            by_epoch.setdefault(rows[index][1], []).append(index)
        if all(len(group) == 1 for group in by_epoch.values()):
            keep.update(indices)
            continue
        if max(len({rows[i][3] for i in group}) for group in by_epoch.values()) >= 3:
            last_per_step = {rows[i][0]: i for i in indices}
            keep.update(last_per_step.values())
            continue
        previous = None
        for group in by_epoch.values():
            value = rows[group[-1]][3]
            if previous is None or value != previous:
                keep.add(group[-1])
            previous = value
    return [row for index, row in enumerate(rows) if index in keep]


def _place_iteration_predictions(part: Part, predictions: list[dict], scalars) -> None:
    """An iteration-based run counts validations as epochs: each debug line goes to the validation after it."""
    val_steps = np.unique(np.concatenate([scalars.table.series(tag).step for tag in scalars.table.tags
                                          if tag.startswith("val/")] or [np.zeros(0)]))
    placed = [dict(p, epoch=int(infer_epoch(np.array([p["step"] or 0]), val_steps)[0])) for p in predictions]
    part.predictions = prediction_frame(placed)
