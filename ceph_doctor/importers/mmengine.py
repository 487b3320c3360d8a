"""MMEngine / MMPose work dirs: `<ts>/vis_data/scalars.json`, `<ts>/vis_data/<ts>.json`, `<ts>/<ts>.log`.

The three hold the same numbers; the first one present is read (JSON before text). Train lines
carry `epoch` and the global `step`; by-epoch validation lines carry only `step`, which is then
the epoch. The dumped config (`<ts>.py` or `vis_data/config.py`) gives lr, max_epochs,
val_interval and the codec sigma when it is there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ceph_doctor.importers import Part, SkipNote, non_finite_note, rows_to_columns, scalar_table, to_float
from ceph_doctor.importers.names import NameMap, normalise
from ceph_doctor.store.scalars import ScalarTable

NAME = "mmengine"
NOT_METRICS = {"data_time", "time", "memory", "eta", "iter", "epoch", "step"}
JSON_KEYS = {"lr", "base_lr", "loss", "epoch", "iter", "data_time", "time"}
LOG_LINE = re.compile(r"\b(Epoch|Iter)\((train|val)\)\s*((?:\[\s*\d+\s*\])?)\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]\s*(.*)")
PAIR = re.compile(r"(\S+):\s+(\S+)")
CONFIG_KEYS = {
    ("optimizer", "lr"): r"\blr\s*=\s*([0-9.eE+-]+)",
    ("optimizer", "weight_decay"): r"\bweight_decay\s*=\s*([0-9.eE+-]+)",
    ("train", "max_epochs"): r"\bmax_epochs\s*=\s*(\d+)",
    ("train", "val_interval"): r"\bval_interval\s*=\s*(\d+)",
    ("codec", "sigma"): r"\bsigma\s*=\s*\(?\s*([0-9.]+)",
    ("data", "batch_size"): r"\bbatch_size\s*=\s*(\d+)",
}


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".json", ".jsonl", ""):
        for line in head.decode("utf-8", "replace").splitlines()[:5]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            return isinstance(record, dict) and "step" in record and bool(JSON_KEYS & set(record))
        return False
    # Byte tests first: decoding a 64 KiB head and a regular expression over it cost a millisecond.
    if b" - mmengine - " in head:
        return True
    return (b"Epoch(" in head or b"Iter(" in head) and bool(LOG_LINE.search(head.decode("utf-8", "replace")))


def run_root(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "vis_data" else path.parent


def read(files: list[Path], names: NameMap) -> Part:
    ranked = sorted(files, key=lambda f: (f.name != "scalars.json", f.suffix.lower() != ".json", str(f)))
    chosen, others = ranked[0], ranked[1:]
    part = Part(ScalarTable())
    rows, bad = (read_json if chosen.suffix.lower() in (".json", ".jsonl", "") else read_log)(chosen, names)
    part.scalars = scalar_table([rows_to_columns(rows)])
    part.read.append(chosen)
    if bad:
        part.notes.append(f"{chosen.name}: skipped {bad} unreadable line(s) (broken JSON, or no step)")
    part.notes.extend(non_finite_note(part.scalars))
    part.skipped.extend(SkipNote(f, f"same numbers as {chosen.name}, which was read") for f in others)
    part.manifest = {"framework": {"name": "mmengine"}, "config": read_config(chosen)}
    return part


def read_json(file: Path, names: NameMap) -> tuple[list[tuple], int]:
    rows: list[tuple] = []
    bad = 0
    by_epoch = None
    last_train_step = 0
    for line in file.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            step = int(record["step"]) if isinstance(record, dict) else None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
            step = None
        if step is None:
            bad += 1
            continue
        if "epoch" in record or "iter" in record:  # a training line
            by_epoch = "epoch" in record if by_epoch is None else by_epoch
            epoch = to_float(record.get("epoch"))
            epoch = int(epoch) if epoch is not None and epoch == epoch and abs(epoch) < 1e9 else None
            rows.extend(line_rows(record, step, epoch, "train", names))
            last_train_step = step
        elif by_epoch is not False:  # by-epoch validation: `step` is the epoch
            rows.extend(line_rows(record, last_train_step, step, "val", names))
        else:
            rows.extend(line_rows(record, step, None, "val", names))
    return rows, bad


def line_rows(record: dict, step: int, epoch: int | None, split: str, names: NameMap) -> list[tuple]:
    rows, used = [], set()
    # Exact canonical spellings first, so `loss` (not `loss_kpt`) and `lr` (not `base_lr`) win.
    for key in sorted(record, key=lambda k: (normalise(str(k)) not in ("loss", "lr"), str(k))):
        value = to_float(record[key])
        if key in NOT_METRICS or value is None:
            continue
        tag = names.tag(str(key), split)
        if tag in used:
            if normalise(str(key)) == "base_lr":
                continue
            tag = f"{split}/{key}"
        used.add(tag)
        rows.append((step, epoch, tag, value, None))
    return rows


def read_log(file: Path, names: NameMap) -> tuple[list[tuple], int]:
    rows: list[tuple] = []
    bad = 0
    last_train_step = 0
    for line in file.read_text(errors="replace").splitlines():
        match = LOG_LINE.search(line)
        if not match:
            continue
        unit, split, epoch_text, index, total, rest = match.groups()
        pairs = {key: value for key, value in PAIR.findall(rest) if to_float(value) is not None}
        if not pairs:
            bad += 1
            continue
        epoch = int(epoch_text.strip("[] ")) if epoch_text else None
        if split == "train":
            step = (epoch - 1) * int(total) + int(index) if epoch is not None else int(index)
            last_train_step = step
            rows.extend(line_rows(pairs, step, epoch, "train", names))
        elif set(pairs) - NOT_METRICS:  # the summary line of a validation, not a progress line
            rows.extend(line_rows(pairs, last_train_step, epoch, "val", names))
    return rows, bad


def read_config(chosen: Path) -> dict:
    folder = run_root(chosen)
    # The dumped config; else the log, where MMEngine prints the config after "Config:".
    candidates = [folder / "vis_data" / "config.py", folder.parent / f"{folder.name}.py", *sorted(folder.glob("*.py")),
                  *sorted(folder.glob("*.log"))]
    text = ""
    for candidate in candidates:
        if candidate.is_file():
            text = candidate.read_text(errors="replace")
            if re.search(r"\blr\s*=", text):
                break
    config: dict = {}
    for (section, key), pattern in CONFIG_KEYS.items():
        match = re.search(pattern, text)
        number = to_float(match.group(1)) if match else None
        if number is not None:
            config.setdefault(section, {})[key] = int(number) if number.is_integer() and key != "lr" else number
    return config



# Canonical fix keys → the MMEngine/MMPose config line a user edits ({v}: the new value).
IDIOM = {
    "optimizer.lr": "optim_wrapper = dict(optimizer=dict(lr={v}))",
    "optimizer.weight_decay": "optim_wrapper = dict(optimizer=dict(weight_decay={v}))",
    "codec.sigma": "codec = dict(sigma={v})",
    "train.max_epochs": "train_cfg = dict(max_epochs={v})",
    "train.val_interval": "train_cfg = dict(val_interval={v})",
    "data.batch_size": "train_dataloader = dict(batch_size={v})",
    "train.grad_clip": "optim_wrapper = dict(clip_grad=dict(max_norm={v}))",
    "train.warmup_epochs": "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, "
                           "end={v}), ...]",
    "train.ema": "custom_hooks = [dict(type='EMAHook')]",
}


def config_line(fix, run=None) -> str | None:
    """A Fix (key, op, value) as the line to change in an MMEngine config; None where MMEngine has no such key.

    `run` (an imported MMEngine Run) supplies the current value for `multiply` fixes and the
    monitored metric for an EarlyStoppingHook.
    """
    config = (run.config if run is not None else None) or {}
    if fix.key == "train.early_stopping.patience":
        monitor = ((run.manifest if run is not None else {}) or {}).get("monitor") or {}
        metric = str(monitor.get("metric", "val/PCK")).removeprefix("val/")
        rule = "greater" if monitor.get("mode", "max") == "max" else "less"
        return (f"custom_hooks = [dict(type='EarlyStoppingHook', monitor='{metric}', rule='{rule}', "
                f"patience={fix.value})]")
    template = IDIOM.get(fix.key)
    if template is None:
        return None
    value = fix.value
    if fix.op == "multiply":
        section, _, key = fix.key.partition(".")
        current = (config.get(section) or {}).get(key)
        if current is None:
            return template.format(v=f"<current> * {fix.value:g}") if isinstance(fix.value, (int, float)) else None
        value = current * fix.value
        value = round(value) if isinstance(current, int) else float(f"{value:.3g}")
    if fix.op == "enable" and value is None:
        value = True
    return template.format(v=value)
