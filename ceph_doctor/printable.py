"""Text from a log, a run or a checkpoint, made safe to print: no terminal control sequences.

A metric, landmark, run or tensor name is someone else's bytes. Printed raw, `\x1b[2J` clears the user's screen
and an OSC sequence can retitle the terminal or write a link; so every such string passes through `printable`
before it reaches a terminal (and the Markdown and HTML reports, where control characters are noise anyway).
"""

from __future__ import annotations

import dataclasses
import re

# C0 controls but tab and newline, DEL, and the C1 controls (CSI and OSC among them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with each control character shown as its escape (`\\x1b`), so nothing is hidden or executed."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def printable_all(value):
    """`printable` applied to every string inside lists, tuples, dicts and dataclass instances."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{field.name: printable_all(getattr(value, field.name))
                                             for field in dataclasses.fields(value) if field.init})
    if isinstance(value, str):
        cleaned = printable(value)
        return value if cleaned == value else cleaned  # unchanged keeps its type (a renderer's safe Markup)
    if isinstance(value, list):
        return [printable_all(item) for item in value]
    if isinstance(value, tuple):
        return tuple(printable_all(item) for item in value)
    if isinstance(value, dict):
        return {printable_all(key): printable_all(item) for key, item in value.items()}
    return value
