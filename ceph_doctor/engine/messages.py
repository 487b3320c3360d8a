"""The language of a rule's message: placeholders quoting signal values, optional clauses, safe formatting.

    "{metric.name} was best at {metric.best_epoch@when} ({metric.best:.3g})[[; on training images {gap.ratio:.2f}]]."

Substitution is done here, one placeholder at a time; the text never goes to `str.format`, so a template
cannot reach attributes or indexes of what it quotes.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable, Mapping

from ceph_doctor.engine.expr import ExpressionError, Name, parse, plain
from ceph_doctor.numbers import is_number, quantity, significant

BUILTIN_PLACEHOLDERS = ("epoch", "landmarks")
EVIDENCE_DIGITS = 4  # significant digits kept in the evidence: enough to read, short enough to diff
LANDMARKS_SHOWN = 8
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class MessageTemplate:
    """A rule's message: text with `{signal.name}` (the value as its unit reads: +21%, 0.02×, 3.2 mm,
    5 validations; see `ceph_doctor.numbers`), `{signal.name:.2f}` (a format spec of one's own),
    `{signal.name@epoch}` (the epoch a signal refers to), `{signal.name@unit}`, `{signal.name@when}`,
    `{signal.name|step|steps}` (the word for the value's count: "step" for 1), `{epoch}` and
    `{landmarks}`; `[[ … ]]` encloses a clause said only when every value in it is known.

    Substitution is done here, one placeholder at a time, with `format(value, spec)`; the text
    never goes to `str.format`, so a template cannot reach attributes (`{x.__class__}`) or
    indexes. `{{` and `}}` are literal braces. A missing or null value renders as "n/a".
    """

    def __init__(self, source: str):
        self.source = source
        # literal text, (name, "value"|"epoch"|"unit"|"when", spec), or an optional clause: a list of those
        self.parts: list = []
        for optional, segment, offset in _clauses(source):
            parts = _template_parts(segment, offset)
            if optional:
                self.parts.append(parts)
            else:
                self.parts.extend(parts)

    @property
    def names(self) -> tuple[str, ...]:
        """The signal names the message quotes."""
        flat = [item for part in self.parts for item in (part if isinstance(part, list) else [part])]
        return tuple(part[0] for part in flat if isinstance(part, tuple) and part[0] not in BUILTIN_PLACEHOLDERS)

    def render(self, signals: Mapping[str, Any], epoch: int | None = None, landmarks: Iterable[str] = (),
               when: Callable[[int], str] | None = None) -> str:
        """The message for `signals` (name → Signal, or anything with .value, .epoch, .unit).

        `{name@when}` says the point in training an epoch-valued signal names, as `when(epoch)` puts it
        ("epoch 15", or "validation 19 (iteration 7600)" for an iteration-based run)."""
        builtins = {"epoch": epoch, "landmarks": list(landmarks)}
        out = []
        for part in self.parts:
            if isinstance(part, list):  # an optional clause: said only when every value in it is known
                if all(_known(item, signals, builtins) for item in part if isinstance(item, tuple)):
                    out.append(MessageTemplate._rendered(part, signals, builtins, when))
                continue
            out.append(MessageTemplate._rendered([part], signals, builtins, when))
        return "".join(out)

    @staticmethod
    def _rendered(parts: list, signals: Mapping[str, Any], builtins: dict, when) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name, attribute, spec = part
            if attribute == "when":
                signal = signals.get(name)
                value = plain(getattr(signal, "value", None))
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    out.append(when(int(value)) if when else f"epoch {int(value)}")
                else:
                    out.append("n/a")
                continue
            if attribute == "plural":  # spec holds the two words
                signal = signals.get(name)
                count = plain(getattr(signal, "value", None))
                out.append(spec[0] if count == 1 else spec[1])
                continue
            unit = ""
            if name in builtins:
                value = builtins[name]
            else:
                signal = signals.get(name)
                value = getattr(signal, attribute, None) if signal is not None else None
                unit = getattr(signal, "unit", "") if attribute == "value" else ""
            out.append(_formatted(value, spec, unit))
        return "".join(out)

    def __str__(self) -> str:
        return self.source


def _clauses(source: str) -> list[tuple[bool, str, int]]:
    """(optional, text, offset) pieces: `[[ … ]]` marks a clause said only when its values are known."""
    pieces, position = [], 0
    while (start := source.find("[[", position)) >= 0:
        end = source.find("]]", start)
        if end < 0:
            raise ValueError(f"unmatched '[[' at column {start + 1}; close the optional clause with ']]'")
        pieces += [(False, source[position:start], position), (True, source[start + 2:end], start + 2)]
        position = end + 2
    if "]]" in source[position:]:
        raise ValueError(f"unmatched ']]' at column {source.index(']]', position) + 1}")
    return pieces + [(False, source[position:], position)]


def _template_parts(source: str, offset: int) -> list:
    parts: list = []
    position = 0
    for match in _PLACEHOLDER.finditer(source):
        parts.append(source[position:match.start()])
        position = match.end()
        token = match.group()
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif match.group(1) is None:
            column = offset + match.start() + 1
            raise ValueError(f"unmatched {token!r} at column {column}; write {token * 2} for a literal brace")
        else:
            parts.append(_placeholder(match.group(1), offset + match.start()))
    parts.append(source[position:])
    return parts


def _known(part: tuple, signals: Mapping[str, Any], builtins: dict) -> bool:
    name, attribute, _ = part
    if name in builtins:
        return builtins[name] not in (None, [])
    signal = signals.get(name)
    read = "value" if attribute in ("when", "plural") else attribute
    value = plain(getattr(signal, read, None)) if signal is not None else None
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _placeholder(body: str, start: int) -> tuple[str, str, Any]:
    where = f"{{{body}}} at column {start + 1}"
    if "|" in body:  # {count|one|many}: the word that agrees with a count
        name, *words = (piece.strip() for piece in body.split("|"))
        if len(words) != 2 or not all(words) or name in BUILTIN_PLACEHOLDERS or not _is_name(name):
            raise ValueError(f"{where}: write {{signal.name|singular|plural}}, e.g. {{x.steps|step|steps}}")
        return name, "plural", tuple(words)
    reference, _, spec = body.partition(":")
    name, _, attribute = reference.strip().partition("@")
    if not (name in BUILTIN_PLACEHOLDERS or _is_name(name)):
        raise ValueError(f"{where}: quote a signal name, {{epoch}} or {{landmarks}}")
    if attribute not in ("", "epoch", "unit", "when") or (attribute and name in BUILTIN_PLACEHOLDERS):
        raise ValueError(f"{where}: after '@' write epoch, unit or when, e.g. {{metric.best@epoch}}")
    # A huge width would make a huge string; no message needs more than two digits.
    if len(spec) > 20 or any(int(number) > 64 for number in re.findall(r"\d+", spec)):
        raise ValueError(f"{where}: format spec too long")
    if spec and not any(_formats(sample, spec) for sample in (0.5, 1, "text")):
        raise ValueError(f"{where}: {spec!r} is not a format spec (e.g. .2f, .0%, d)")
    return name, attribute or "value", spec


def _is_name(text: str) -> bool:
    try:
        return isinstance(parse(text).tree, Name)
    except ExpressionError:
        return False


def _formats(value: Any, spec: str) -> bool:
    try:
        format(value, spec)
        return True
    except (ValueError, TypeError, OverflowError):  # OverflowError: a huge int under a float spec
        return False


def _formatted(value: Any, spec: str, unit: str = "") -> str:
    value = plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, list):
        if not value:
            return "none"
        shown = [_formatted(item, spec) for item in value[:LANDMARKS_SHOWN]]
        more = len(value) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec and _formats(value, spec):
        return _tidy(value, spec)
    if is_number(value) and unit == "epoch":  # "at epoch 2 of 8": the bare number, the words are the message's
        return str(int(value)) if float(value).is_integer() else significant(value)
    return quantity(value, unit) if is_number(value) else str(value)


def _tidy(value: Any, spec: str) -> str:
    """`format(value, spec)`, without what a reader stumbles on: no "-0", and for fixed-point and percent
    specs no digits beyond the third significant one (500.00% → 500%, 34701632032.72 → 3.47e10)."""
    kind = spec[-1] if spec else ""
    if kind in "f%" and is_number(value) and math.isfinite(value):
        shown = abs(value) * (100 if kind == "%" else 1)
        if shown >= 1e5:
            sign = "+" if "+" in spec and value > 0 else ""
            return sign + significant(value * (100 if kind == "%" else 1), 3) + ("%" if kind == "%" else "")
        if shown >= 100:
            spec = re.sub(r"\.\d+", ".0", spec)
    text = format(value, spec)
    if re.fullmatch(r"[-+]0(\.0*)?%?", text.strip()):  # a value that rounds to zero has no sign
        text = text.replace("-", "").replace("+", "")
    return text
