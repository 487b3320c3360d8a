"""`ceph-doctor compare A.pth B.pth`: from command-line arguments to a printed comparison and an --out folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress

from ceph_doctor import bounded_yaml
from ceph_doctor.config import flatten, parse_override
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.errors import ConfigError


def compare_command(a: Path, b: Path, data: list[str], out: Path | None, set_overrides: list[str]):
    """Compare checkpoints `a` and `b`, print the report, and write files under `out` when given."""
    from ceph_doctor.compare import compare_checkpoints
    from ceph_doctor.compare.report import print_report, write_report

    overrides = data_overrides([*(data or []), *(set_overrides or [])])
    console = Console()
    if not console.is_terminal:  # a log or a file: wide enough that no landmark name is folded
        console = Console(width=160)
    with Progress(console=Console(stderr=True), transient=True) as bar:

        def progress(task: str, total: int):
            task_id = bar.add_task(task, total=total)
            return lambda count: bar.advance(task_id, count)

        comparison = compare_checkpoints(a, b, overrides, progress)
    print_report(comparison, console)
    if out is not None:
        from ceph_doctor.compare.pictures import write_pictures

        out.mkdir(parents=True, exist_ok=True)
        summary = write_report(comparison, out, write_pictures(comparison, out))
        console.print(f"Written: {summary} and the pictures and tables beside it", highlight=False)
    return comparison


def data_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """Each item is a config file (its `data:` section is used) or KEY=VALUE ("data." may be left out)."""
    overrides: list[tuple[str, Any]] = []
    for item in items:
        path = Path(item)
        if "=" not in item or path.is_file():
            overrides += _data_section(path)
            continue
        key, value = parse_override(item)
        if not key.startswith("data.") and f"data.{key}" in SCHEMA:
            key = f"data.{key}"
        overrides.append((key, value))
    return overrides


def _data_section(path: Path) -> list[tuple[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"--data {path}: neither a config file nor KEY=VALUE (e.g. --data data.root=PATH)")
    try:
        tree = bounded_yaml.load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"--data {path}: cannot read it as YAML ({str(error).splitlines()[0]})") from None
    section = tree.get("data") if isinstance(tree, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"--data {path}: no data: section to take the evaluation images from")
    # input_size stays each checkpoint's own: a training config's size is not the evaluation set's business.
    return [(key, value) for key, value in flatten(section, "data.").items() if key != "data.input_size"]
