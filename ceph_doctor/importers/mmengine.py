"""MMEngine / MMPose work dirs (`<ts>/vis_data/scalars.json`, `<ts>/vis_data/<ts>.json`, `<ts>/<ts>.log`)
and mmcv 1.x / MMDetection 2.x / MMPose 0.x `*.log.json` files.

The JSON files hold the scalars; the first one present is read (`scalars.json` before `<ts>.json`).
The `.log` repeats those numbers, but may also hold what a metric printed (per-landmark debug lines):
those are read from it (`textlog`), and it gives the scalars when no JSON is there.

Lines are told apart by what they hold, not by a flag the format may lack: a line with an lr or an
epoch/iter counter is a training line; any other (losses included) is a validation line. In an epoch-based run a
validation line's `step` is its epoch (MMEngine) or it carries `epoch` (mmcv, `mode: val`); in an
iteration-based run there are no epochs, iterations are the steps and each validation counts as one epoch.
The dumped config (`vis_data/config.py`, `<ts>.py`, or the `config` string of an mmcv log's first line)
gives the settings, and `save_best` the metric the run itself monitored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ceph_doctor.frameworks import mmengine as framework
from ceph_doctor.importers import Logged, Part, non_finite_note, rows_to_columns, scalar_table, to_float
from ceph_doctor.importers.configs import canonical, flatten, python_config
from ceph_doctor.importers.names import NameMap
from ceph_doctor.store.meaning import parse

NAME = "mmengine"
NOT_METRICS = {"data_time", "time", "memory", "eta", "iter", "epoch", "step", "mode"}
# MMEngine's and mmcv's timing of a training iteration, in seconds: `time` the whole iteration, `data_time` the
# part spent waiting for the batch. Their share is how data-bound the run is; under their own names they would
# read as wall-clock time, which is no scalar of the run.
TIMING = {"time": "iter_time", "data_time": "data_time"}
JSON_KEYS = {"lr", "base_lr", "loss", "epoch", "iter", "data_time", "time", "mode"}
LOG_LINE = re.compile(r"\b(Epoch|Iter)\((train|val)\)\s*((?:\[\s*\d+\s*\])?)\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]\s*(.*)")
PAIR = re.compile(r"(\S+):\s+(\S+)")


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".json", ".jsonl", ""):
        for line in head.decode("utf-8", "replace").splitlines()[:5]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and ("env_info" in record or "config" in record) and "mode" not in record:
                continue  # mmcv's first line: the environment and the config
            return isinstance(record, dict) and ("step" in record or "mode" in record) and bool(JSON_KEYS & set(record))
        return False
    # Byte tests first: decoding a 64 KiB head and a regular expression over it cost a millisecond.
    if b" - mmengine - " in head:
        return True
    return (b"Epoch(" in head or b"Iter(" in head) and bool(LOG_LINE.search(head.decode("utf-8", "replace")))


def run_root(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "vis_data" else path.parent


def read(files: list[Path], names: NameMap) -> Part:
    jsons = sorted((f for f in files if f.suffix.lower() in (".json", ".jsonl", "")),
                   key=lambda f: (f.name != "scalars.json", str(f)))
    logs = [f for f in files if f not in jsons]
    part = Part()
    config: dict = {}
    if jsons:
        rows, bad, config = read_json(jsons[0])
        part.read.append(jsons[0])
        if bad:
            part.notes.append(f"{jsons[0].name}: skipped {bad} unreadable line(s) (broken JSON, or no step)")
        part.skipped.extend(_same(f, jsons[0]) for f in jsons[1:])
    else:
        rows = read_log(logs[0]) if logs else []
    part.scalars = scalar_table([rows_to_columns(rows)], names)
    part.notes.extend(non_finite_note(part.scalars.table))
    for log in logs:
        debug = _debug_lines(log, names)
        if debug is not None and not debug.empty:
            part.predictions = debug
            part.read.append(log)
            part.notes.append(f"{log.name}: per-landmark debug lines read as predictions; its scalars are the JSON's")
        elif jsons or log is not logs[0]:
            part.skipped.append(_same(log, jsons[0] if jsons else logs[0]))
        else:
            part.read.append(log)
    config = config or dumped_config(run_root(part.read[0]) if part.read else files[0].parent)
    # The framework's own table first (exact paths), then any other setting the key grammar recognises.
    settings = framework.from_config(config)
    for section, entries in canonical(flatten(config)).items():
        for key, value in entries.items():
            settings.setdefault(section, {}).setdefault(key, value)
    part.manifest = {"framework": {"name": framework.NAME}, "config": settings}
    monitor = declared_monitor(config, part.scalars.names)
    if monitor:
        part.manifest["monitor"] = monitor
    return part


def _same(file: Path, read_file: Path):
    from ceph_doctor.importers import SkipNote

    return SkipNote(file, f"same numbers as {read_file.name}, which was read")


def read_json(file: Path) -> tuple[list[tuple], int, dict]:
    """Rows of (step, epoch, Logged, value, None), unreadable lines, and an mmcv log's own config."""
    rows: list[tuple] = []
    bad = 0
    config: dict = {}
    by_epoch = None
    last_train_step = 0
    offset, last_epoch, last_iter = 0, None, 0
    for line in file.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            bad += 1
            continue
        if "mode" not in record and ("env_info" in record or "config" in record):
            config = python_config(record.get("config") or "") if isinstance(record.get("config"), str) else {}
            continue
        split = record.get("mode")
        training = split == "train" or (split is None and _is_training(record))
        epoch = _int(record.get("epoch"))
        step = _int(record.get("step"))
        if "mode" in record:  # mmcv: `iter` counts within the epoch; the global step is built from it
            if training and epoch is not None:
                if epoch != last_epoch:
                    offset, last_epoch = offset + last_iter, epoch
                last_iter = _int(record.get("iter")) or last_iter
                step = offset + last_iter
            elif training:
                step = _int(record.get("iter"))
        if training:
            if step is None:
                bad += 1
                continue
            by_epoch = epoch is not None if by_epoch is None else by_epoch
            rows.extend(line_rows(record, step, epoch, "train"))
            last_train_step = step
        elif by_epoch is not False and (epoch is not None or step is not None):
            # By-epoch validation: MMEngine gives the epoch as `step`, mmcv as `epoch`.
            rows.extend(line_rows(record, last_train_step, epoch if epoch is not None else step, "val"))
        elif step is not None:
            rows.extend(line_rows(record, step, None, "val"))
        else:
            bad += 1
    return rows, bad, config


def _is_training(record: dict) -> bool:
    """Training lines carry the epoch/iteration counter or the lr; validation lines (which may log
    losses too) carry neither."""
    return "epoch" in record or "iter" in record or any(parse(str(key)).quantity == "lr" for key in record)


def _int(value) -> int | None:
    number = to_float(value)
    return int(number) if number is not None and number == number and abs(number) < 1e15 else None


def line_rows(record: dict, step: int, epoch: int | None, split: str) -> list[tuple]:
    rows = []
    for key, value in record.items():
        number = to_float(value)
        if number is None:
            continue
        if split == "train" and key in TIMING:
            rows.append((step, epoch, Logged(TIMING[key], split), number, None))
        elif key not in NOT_METRICS:
            rows.append((step, epoch, Logged(str(key), split), number, None))
    return rows


def read_log(file: Path) -> list[tuple]:
    rows: list[tuple] = []
    last_train_step = 0
    for line in file.read_text(errors="replace").splitlines():
        match = LOG_LINE.search(line)
        if not match:
            continue
        unit, split, epoch_text, index, total, rest = match.groups()
        pairs = {key: value for key, value in PAIR.findall(rest) if to_float(value) is not None}
        if not pairs:
            continue
        epoch = int(epoch_text.strip("[] ")) if epoch_text else None
        if split == "train":
            step = (epoch - 1) * int(total) + int(index) if epoch is not None else int(index)
            last_train_step = step
            rows.extend(line_rows(pairs, step, epoch, "train"))
        elif set(pairs) - NOT_METRICS:  # the summary line of a validation, not a progress line
            rows.extend(line_rows(pairs, last_train_step, epoch, "val"))
    return rows


def _debug_lines(log: Path, names: NameMap):
    """The per-landmark debug lines of a `.log`, as predictions (None when it prints none)."""
    from ceph_doctor.importers import textlog

    part = textlog.read([log], names)
    part = part[0] if isinstance(part, list) else part
    return part.predictions


def dumped_config(folder: Path) -> dict:
    """The dumped Python config of a work dir, as literals ({} when there is none)."""
    for candidate in [folder / "vis_data" / "config.py", folder.parent / f"{folder.name}.py", *sorted(folder.glob("*.py"))]:
        if candidate.is_file():
            config = python_config(candidate.read_text(errors="replace"))
            if config:
                return config
    return {}


def declared_monitor(config: dict, rows) -> dict | None:
    """`save_best='PCK', rule='greater'` in the checkpoint hook: the metric the run kept its best on."""
    hooks = config.get("default_hooks") or {}
    checkpoint = hooks.get("checkpoint") if isinstance(hooks, dict) else None
    checkpoint = checkpoint or config.get("checkpoint_config") or {}
    if not isinstance(checkpoint, dict):
        return None
    best = checkpoint.get("save_best")
    best = best[0] if isinstance(best, list) and best else best
    if not isinstance(best, str) or best == "auto":
        return None
    tag = next((row.tag for row in rows if row.logged == best and row.tag), None)
    if tag is None:
        return None
    rule = checkpoint.get("rule")
    rule = rule[0] if isinstance(rule, list) and rule else rule
    mode = {"greater": "max", "less": "min"}.get(rule) or parse(best).direction
    return {"metric": tag, "mode": mode, "why": f"save_best={best!r} in the run's config"} if mode else None
