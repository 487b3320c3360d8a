"""The files under a folder, walked with an explicit stack and to a bounded depth.

`Path.rglob` recurses once per folder level: a tree a thousand folders deep (a crafted archive, a symlink
loop flattened by a copy) ends `analyze` in a RecursionError. Logs never sit that deep (an MLflow metric
named with slashes is a dozen levels at most), so folders past `MAX_DEPTH` are not searched, and the caller
says so. Symbolic links to folders are not followed, as `rglob` does not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 64


@dataclass
class Walk:
    files: list[Path] = field(default_factory=list)  # sorted
    too_deep: list[Path] = field(default_factory=list)  # folders whose contents were not searched
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # folders the system refused to list


def walk(root: Path, max_depth: int = MAX_DEPTH) -> Walk:
    found = Walk()
    stack = [(Path(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    path = folder / entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if depth + 1 >= max_depth:
                            found.too_deep.append(path)
                        else:
                            stack.append((path, depth + 1))
                    elif entry.is_file():
                        found.files.append(path)
        except OSError as error:
            found.unreadable.append((folder, error.strerror or str(error)))
    found.files.sort()
    found.too_deep.sort()
    return found


def signature(path: Path) -> tuple:
    """Every file's size and modification time at or under `path` (empty where there is nothing): two equal
    signatures mean nothing was written in between."""
    path = Path(path)
    files = [path] if path.is_file() else walk(path).files if path.is_dir() else []
    stats = []
    for file in files:
        try:
            status = file.stat()
        except OSError:  # replaced or removed between the listing and the look
            continue
        stats.append((str(file), status.st_size, status.st_mtime_ns))
    return tuple(sorted(stats))
