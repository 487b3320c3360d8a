"""A run's saved settings beside its logs: Lightning's `hparams.yaml`, Ultralytics' `args.yaml`, a script's
`config.json` or `settings.yaml`: any JSON or YAML mapping of settings in the run's folder.

They hold no curve; they give the config fixes are computed from (`configs.py` reads the keys). A part
read here joins the run of its folder and never makes a run on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ceph_doctor.importers import Part
from ceph_doctor.importers.configs import parse_text, read_configs
from ceph_doctor.importers.names import NameMap

NAME = "settings"
SUFFIXES = (".json", ".yaml", ".yml")


def sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() not in SUFFIXES or path.name == "meta.yaml":  # MLflow's run record
        return False
    text = head.decode("utf-8", "replace")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else parse_text(text, path.suffix.lower())
    except (ValueError, yaml.YAMLError, RecursionError):
        return False
    # Settings are a mapping of scalars or nested mappings; a list of records is a log, not settings.
    return isinstance(data, dict) and bool(data) and not any(
        isinstance(value, list) and value and isinstance(value[0], dict) for value in data.values())


def run_root(path: Path) -> Path:
    from ceph_doctor.importers.mlflow import artifact_run

    return artifact_run(path) or path.parent


def read(files: list[Path], names: NameMap) -> Part:
    config = read_configs(files)
    return Part(read=list(files), manifest={"config": config} if config else {})
