"""YAML from a file someone else wrote, read without letting it grow without bound.

Anchors and aliases let a few hundred bytes stand for a structure of billions of values (a "billion laughs"):
PyYAML builds it cheaply as shared references, but whatever walks or prints it afterwards (a validator, an
error message quoting the value) does not. `load` measures what the document expands to and refuses more than
`MAX_VALUES`; nesting too deep for Python is refused the same way. Both raise `yaml.YAMLError`, so every
caller's existing one-line message for a malformed file covers them.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_VALUES = 1_000_000  # far beyond any config or log settings file; far below what exhausts memory

# libyaml's parser where PyYAML was built with it: the same safe constructors, several times faster, which
# matters because `analyze` reads every rule file on each start. Only for the files ceph-doctor ships: its
# composer recurses in C, so a document nested a hundred thousand deep crashes the process instead of raising.
SHIPPED_FILE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TooLarge(yaml.YAMLError):
    pass


def load(text: str, loader: type = yaml.SafeLoader) -> Any:
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 — callers pass SafeLoader or a subclass of it
        expanded_size(data)
    except RecursionError:
        raise TooLarge("nested too deeply to read") from None
    return data


def expanded_size(data: Any, limit: int = MAX_VALUES) -> int:
    """How many values `data` holds with every alias expanded; TooLarge past `limit`."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list, tuple)):
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        total = 1
        for item in items:
            total += size(item)
            if total > limit:
                raise TooLarge(f"expands to more than {limit:,} values (anchors and aliases): refused")
        sizes[id(value)] = total
        return total

    return size(data)
