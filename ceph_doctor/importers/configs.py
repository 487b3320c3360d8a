"""Another tool's saved configuration → the canonical config keys a fix patches.

Read safely, whatever wrote it: YAML (Lightning's `hparams.yaml`, Ultralytics' `args.yaml`) with every
`!!python/...` tag read as nothing (no object is ever built), Python configs of MMEngine and mmcv
through `ast` (literals, `dict(...)` calls and the names assigned before them; nothing is executed),
JSON, and flat `key: value` lines. Keys are matched by their last part and their parents, in the
many spellings tools use (`lr`, `lr0`, `learning_rate`, `base_lr`; `epochs`, `max_epochs`,
`num_train_epochs`; `check_val_every_n_epoch`, `val_interval`, `evaluation.interval` …).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from ceph_doctor import bounded_yaml

# (canonical section, key) → spellings of the last key, most specific first; "parent.key" also accepted.
KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("optimizer", "lr"): ("lr", "lr0", "learning_rate", "base_lr", "init_lr", "initial_lr", "max_lr"),
    ("optimizer", "weight_decay"): ("weight_decay", "wd"),
    ("train", "max_epochs"): ("max_epochs", "epochs", "num_epochs", "n_epochs", "num_train_epochs", "total_epochs",
                              "max_epoch", "nb_epochs", "epoch_num"),
    ("train", "max_iters"): ("max_iters", "max_steps", "total_steps", "num_iters", "max_iter", "total_iters"),
    ("train", "val_interval"): ("val_interval", "check_val_every_n_epoch", "eval_interval", "val_every",
                                "validate_every", "evaluation.interval", "val_freq", "eval_every",
                                "validation_interval"),
    ("train", "early_stopping", "patience"): ("patience", "early_stopping_patience", "es_patience"),
    ("data", "batch_size"): ("batch_size", "batch", "bs", "samples_per_gpu", "per_device_train_batch_size",
                             "train_batch_size", "batchsize"),
    ("codec", "sigma"): ("sigma", "heatmap_sigma", "target_sigma", "gaussian_sigma"),
    ("train", "warmup_epochs"): ("warmup_epochs", "warmup_epoch", "warm_up_epochs"),
    ("train", "grad_clip"): ("grad_clip", "max_grad_norm", "gradient_clip_val", "clip_grad", "max_norm",
                             "clip_grad_norm"),
    ("train", "ema"): ("ema_decay", "ema"),
    ("data", "input_size"): ("input_size", "image_size", "img_size", "imgsz", "resolution", "input_res",
                             "image_shape"),
    ("data", "image_width"): ("image_width", "img_width", "img_w", "image_w"),
    ("data", "image_height"): ("image_height", "img_height", "img_h", "image_h"),
}
# Keys whose parents make them mean something else (an lr scheduler's `max_epochs`, a warmup's `lr`).
_OTHER_OWNERS = ("scheduler", "param_scheduler", "lr_config", "warmup", "ema_hook", "swa")


def read_config(path: Path) -> dict[str, Any]:
    """The canonical config found in one file ({} when it holds none or cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    return canonical(flatten(parse_text(text, path.suffix.lower())))


def read_configs(paths: Iterable[Path]) -> dict[str, Any]:
    """The first value found for each key, over several files in order."""
    merged: dict[str, Any] = {}
    for path in paths:
        if path.is_file():
            for section, entries in read_config(path).items():
                _fill(merged.setdefault(section, {}), entries)
    return merged


def parse_text(text: str, suffix: str) -> Any:
    if suffix == ".py":
        return python_config(text)
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError:
            return {}
    try:
        return bounded_yaml.load(text, _InertLoader) or {}  # the loader builds no object
    except yaml.YAMLError:
        return dict(re.findall(r"(?m)^\s*([A-Za-z_][\w.]*)\s*[:=]\s*([^\s#]+)", text))


class _InertLoader(yaml.SafeLoader):
    """SafeLoader that reads `!!python/object…` and any other unknown tag as None instead of failing."""


_InertLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def python_config(text: str) -> dict[str, Any]:
    """An MMEngine/mmcv Python config, evaluated as literals only: `dict(...)`, lists, tuples, numbers,
    strings, and names assigned earlier in the file. Anything else becomes None; nothing runs."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    scope: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            value = _literal(node.value, scope)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    scope[target.id] = value
    return scope


def _literal(node: ast.AST, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item, scope) for item in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k, scope): _literal(v, scope) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {keyword.arg: _literal(keyword.value, scope) for keyword in node.keywords if keyword.arg}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand, scope)
        return -value if isinstance(value, (int, float)) else None
    return None


def flatten(data: Any, parents: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(key path, leaf value) pairs, depth first; lists of scalars are leaves, lists of dicts are walked."""
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            out.extend(flatten(value, (*parents, str(key))))
        return out
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return [pair for item in data for pair in flatten(item, parents)]
    return [(parents, data)] if parents else []


def canonical(pairs: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """Canonical sections and keys from flattened pairs: the shallowest match of each key wins."""
    found: dict[tuple[str, ...], tuple[int, Any]] = {}
    for path, value in pairs:
        value = _number_or_pair(value)
        if value is None:
            continue
        key = path[-1].lower()
        dotted = ".".join(path[-2:]).lower()
        if any(owner in part.lower() for part in path[:-1] for owner in _OTHER_OWNERS):
            continue
        for target, spellings in KEYS.items():
            if key in spellings or dotted in spellings:
                if target not in found or len(path) < found[target][0]:
                    found[target] = (len(path), value)
                break
    config: dict[str, Any] = {}
    for target, (_, value) in found.items():
        node = config
        for part in target[:-1]:
            node = node.setdefault(part, {})
        node[target[-1]] = value
    return config


def _number_or_pair(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value) and len(value) <= 3:
        return value[0] if len(set(value)) == 1 else value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return None


def _fill(target: dict, entries: dict) -> None:
    for key, value in entries.items():
        if isinstance(value, dict):
            _fill(target.setdefault(key, {}), value)
        else:
            target.setdefault(key, value)
