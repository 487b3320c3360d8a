"""Hugging Face `Trainer` runs: `trainer_state.json` (in the output dir and in each `checkpoint-N/`).

`log_history` holds training records (`loss`, `learning_rate`, `grad_norm`, a fractional `epoch`, the
global `step`) and evaluation records (`eval_*`). Evaluations at whole epochs make an epoch-based run;
evaluations every N steps an iteration-based one (iterations are the steps, each evaluation one epoch).
The final summary record (`train_runtime`, the run's mean `train_loss`) is not a point of any curve.
Each checkpoint's copy is a prefix of the last one: the most complete file is read.
`best_model_checkpoint` with `best_metric` tells which metric the run kept its best on.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ceph_doctor.importers import Logged, Part, SkipNote, non_finite_note, rows_to_columns, scalar_table, to_float
from ceph_doctor.importers.configs import canonical, flatten
from ceph_doctor.importers.names import NameMap

NAME = "hf"
SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "total_flos"}
NOT_METRICS = {"epoch", "step"}


def sniff(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".json" and b'"log_history"' in head


def run_root(path: Path) -> Path:
    return path.parent.parent if re.fullmatch(r"checkpoint-\d+", path.parent.name) else path.parent


def read(files: list[Path], names: NameMap) -> Part:
    states = []
    for file in files:
        try:
            state = json.loads(file.read_text(errors="replace"))
        except ValueError as error:
            states.append((file, None, str(error)))
            continue
        states.append((file, state if isinstance(state, dict) else None, "not a JSON object"))
    readable = [(file, state) for file, state, _ in states if state is not None]
    if not readable:
        raise ValueError("; ".join(f"{file.name}: {why}" for file, _, why in states))
    file, state = max(readable, key=lambda item: (len(item[1].get("log_history") or []), str(item[0])))
    history = [record for record in state.get("log_history") or [] if isinstance(record, dict)]
    evaluations = [r for r in history if any(str(k).startswith("eval_") for k in r)]
    whole_epochs = bool(evaluations) and all(_whole(r.get("epoch")) for r in evaluations)
    rows = []
    for record in history:
        if SUMMARY_KEYS & set(record):
            continue
        step = to_float(record.get("step"))
        epoch = to_float(record.get("epoch"))
        evaluation = record in evaluations
        if not whole_epochs or epoch is None:
            epoch_number = None
        else:
            epoch_number = round(epoch) if evaluation else max(1, math.ceil(epoch - 1e-9))
        for key, value in record.items():
            number = to_float(value)
            if key in NOT_METRICS or number is None:
                continue
            rows.append((step, epoch_number, Logged(str(key), "val" if evaluation else "train"), number, None))
    scalars = scalar_table([rows_to_columns(rows)], names)
    part = Part(scalars, read=[file], notes=non_finite_note(scalars.table))
    part.skipped = [SkipNote(other, f"an earlier copy of {file.relative_to(run_root(file))}, which was read")
                    for other, _ in readable if other != file]
    part.skipped += [SkipNote(bad, f"unreadable trainer state ({why})") for bad, state, why in states if state is None]
    top = {key: value for key, value in state.items() if not isinstance(value, (list, dict))}
    part.manifest = {"framework": {"name": "transformers"}, "config": canonical(flatten(top))}
    monitor = _declared_monitor(state, history, scalars.names)
    if monitor:
        part.manifest["monitor"] = monitor
    return part


def _whole(epoch) -> bool:
    number = to_float(epoch)
    return number is not None and abs(number - round(number)) < 1e-6


def _declared_monitor(state: dict, history: list[dict], rows) -> dict | None:
    """The evaluation metric whose value at the best checkpoint's step is `best_metric`."""
    best = to_float(state.get("best_metric"))
    checkpoint = re.search(r"checkpoint-(\d+)", str(state.get("best_model_checkpoint") or ""))
    if best is None or checkpoint is None:
        return None
    step = int(checkpoint.group(1))
    record = next((r for r in history if to_float(r.get("step")) == step and any(str(k).startswith("eval_") for k in r)),
                  None)
    if record is None:
        return None
    for key, value in record.items():
        number = to_float(value)
        if number is not None and str(key).startswith("eval_") and math.isclose(number, best, rel_tol=1e-9):
            tag = next((row.tag for row in rows if row.logged == key and row.split == "val" and row.tag), None)
            if tag:
                from ceph_doctor.store.meaning import direction

                mode = direction(str(key))
                return {"metric": tag, "mode": mode, "why": f"best_metric of the trainer state is {key}"} if mode else None
    return None
