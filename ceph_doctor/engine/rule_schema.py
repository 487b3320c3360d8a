"""The fields of a rule file, checked one by one: each mistake is a `RuleError` naming the file and the field.

`rules.py` says what a rule file holds; this module reads each kind of field (text, lists of signal
names, ids, fixes, message alternatives) and says exactly what is wrong with it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Iterable

from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.engine.diagnosis import Fix
from ceph_doctor.engine.messages import MessageTemplate
from ceph_doctor.engine.expr import Expression, ExpressionError, Name, parse
from ceph_doctor.engine.fixes import FIX_OPS, UNSET, checked_fix_value
from ceph_doctor.errors import UserInputError

KEBAB_CASE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")


class RuleError(UserInputError):
    """A rule file that breaks the schema: one line naming the file and the field."""

    def __init__(self, path: str | Path, field: str | None, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{self.path}: {field}: {problem}" if field else f"{self.path}: {problem}")


def check_fields(source: str, prefix: str, data: dict, required: Iterable[str], optional: Iterable[str]) -> None:
    known = [*required, *optional]
    for field in data:
        if field not in known:
            problem = f"unknown field{close_match(str(field), known)}; fields: {', '.join(known)}"
            raise RuleError(source, f"{prefix}{field}", problem)
    for field in required:
        if field not in data:
            raise RuleError(source, f"{prefix}{field}", "missing field")


def close_match(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def text_field(source: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(source, field, f"expected non-empty text, found {value!r}")
    return value


def list_field(source: str, field: str, value: Any) -> list:
    if not isinstance(value, list):
        raise RuleError(source, field, f"expected a list, found {value!r}")
    return value


def optional_signal(source: str, field: str, value: Any) -> str | None:
    return None if value is None else signal_names(source, field, [value])[0]


def signal_names(source: str, field: str, value: Any) -> tuple[str, ...]:
    names = []
    for item in list_field(source, field, value):
        try:
            tree = parse(item).tree if isinstance(item, str) else None
        except ExpressionError:
            tree = None
        if not isinstance(tree, Name):
            raise RuleError(source, field, f"{item!r} is not a signal name (e.g. collapse.spread_ratio)")
        names.append(tree.name)
    return tuple(names)


def messages(source: str, value: Any) -> tuple[MessageTemplate, tuple[tuple[Expression, MessageTemplate], ...]]:
    """One message text, or alternatives `[{when, text}, …, {text}]` whose last has no `when`."""
    def template(field: str, text: Any) -> MessageTemplate:
        try:
            return MessageTemplate(text_field(source, field, text))
        except ValueError as error:
            raise RuleError(source, field, str(error)) from None

    if not isinstance(value, list):
        return template("message", value), ()
    cases = []
    for index, item in enumerate(value):
        field = f"message[{index}]"
        if not isinstance(item, dict):
            raise RuleError(source, field, "expected a mapping with text (and when, except for the last)")
        check_fields(source, f"{field}.", item, ("text",), ("when",))
        last = index == len(value) - 1
        if last != ("when" not in item):
            raise RuleError(source, field, "the last alternative has no when; every other one has one")
        if not last:
            try:
                cases.append((parse(text_field(source, f"{field}.when", item["when"])), template(f"{field}.text", item["text"])))
            except ExpressionError as error:
                raise RuleError(source, f"{field}.when", f"{error} in {item['when']!r}") from None
    return template(f"message[{len(value) - 1}].text", value[-1]["text"]), tuple(cases)


def fix_condition(source: str, field: str, item: dict) -> Expression | None:
    """A fix's own `when`: the fix is proposed only where it holds (or cannot be judged)."""
    if "when" not in item:
        return None
    try:
        return parse(text_field(source, f"{field}.when", item["when"]))
    except ExpressionError as error:
        raise RuleError(source, f"{field}.when", f"{error} in {item['when']!r}") from None


def diagnosis_ids(source: str, field: str, value: Any, own: str) -> tuple[str, ...]:
    ids = []
    for item in list_field(source, field, value):
        if not isinstance(item, str) or not KEBAB_CASE.match(item):
            raise RuleError(source, field, f"{item!r} is not a diagnosis id (kebab-case, e.g. missed-early-stop)")
        if item == own:
            raise RuleError(source, field, "a rule cannot explain itself")
        ids.append(item)
    return tuple(ids)


def fix_field(source: str, field: str, item: Any, conditional: bool = False) -> Fix:
    """One fix; `conditional`: it may carry a `when` (read by `fix_condition`)."""
    if not isinstance(item, dict):
        raise RuleError(source, field, "expected a mapping with key, op, value, reason")
    check_fields(source, f"{field}.", item, ("key", "op", "reason"), ("value", "when") if conditional else ("value",))
    key, op = item["key"], item["op"]
    if key not in SCHEMA:
        raise RuleError(source, f"{field}.key", f"unknown config key {key!r}{close_match(str(key), SCHEMA)}")
    if op not in FIX_OPS:
        raise RuleError(source, f"{field}.op", f"{op!r} is not one of {', '.join(FIX_OPS)}")
    try:
        value = checked_fix_value(key, op, item.get("value", UNSET))
    except ValueError as error:
        raise RuleError(source, f"{field}.value", str(error)) from None
    return Fix(key=key, op=op, value=value, reason=text_field(source, f"{field}.reason", item["reason"]).strip())
