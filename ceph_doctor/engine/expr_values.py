"""The tree of a parsed condition and what it means: node types, values, and evaluation.

`expr.py` turns text into these nodes; this module gives them their semantics. Nothing here
reaches a Python attribute, a module or a callable outside the whitelist in `FUNCTIONS`.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple
from typing import Any, Callable, Mapping

COMPARISONS = {"<", "<=", ">", ">=", "==", "!="}
ARITHMETIC = {"+", "-", "*", "/"}


class ExpressionError(ValueError):
    """A malformed expression (or a value of the wrong type met while evaluating one)."""

    def __init__(self, message: str, position: int | None = None):
        self.message = message
        self.position = position  # 0-based offset into the source text
        where = f" at column {position + 1}" if position is not None else ""
        super().__init__(message + where)


class MissingSignal(LookupError):
    """The expression needs a signal that this run does not have."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


# ---------------------------------------------------------------- tree
# Every node carries `position`, the offset that error messages point at.

Literal = namedtuple("Literal", "value position")
Name = namedtuple("Name", "name position")
Exists = namedtuple("Exists", "name position")  # exists(name) / has(name)
ListOf = namedtuple("ListOf", "items position")
Prefix = namedtuple("Prefix", "op operand position")  # op: "-" | "+" | "not"
Logical = namedtuple("Logical", "op operands position")  # op: "and" | "or"
Call = namedtuple("Call", "function args position")
# `first op x op y …` at one precedence level: arithmetic, left to right, or a comparison chain.
Chain = namedtuple("Chain", "first rest position")  # rest: ((op, node, position), …)


# ---------------------------------------------------------------- evaluation


def plain(value: Any) -> Any:
    """numpy scalars and arrays, pandas series, tuples → Python values: the rules see one set of types."""
    if hasattr(value, "tolist") and not isinstance(value, (list, str, bytes)):
        value = value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def truth(value: Any) -> bool:
    """null and NaN are false; numbers are true when non-zero; strings and lists when non-empty."""
    if _undefined(value):
        return False
    if isinstance(value, (list, str)):
        return len(value) > 0
    return bool(value)


def _number(value: Any, what: str, position: int) -> float:
    if value is None:
        return math.nan
    if not is_number(value):
        raise ExpressionError(f"{what} needs numbers, not {_type(value)}", position)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _type(value: Any) -> str:
    if is_number(value):
        return "a number"
    labels = {bool: "a boolean", str: "a string", list: "a list", type(None): "null"}
    return labels.get(type(value), type(value).__name__)


def _arithmetic(op: str, left: Any, right: Any, position: int) -> float:
    a, b = _number(left, f"'{op}'", position), _number(right, f"'{op}'", position)
    if op == "/":
        return a / b if b != 0 else math.nan
    return a + b if op == "+" else a - b if op == "-" else a * b


def _equal(left: Any, right: Any) -> bool:
    if _undefined(left) or _undefined(right):
        return left is None and right is None
    if isinstance(left, bool) != isinstance(right, bool):
        return False  # true is not 1 in a rule
    return left == right


def _compare(op: str, left: Any, right: Any, position: int) -> bool:
    if op in ("in", "not in"):
        if isinstance(right, str):
            if not isinstance(left, str):
                raise ExpressionError(f"'{op}' a string needs a string on its left, not {_type(left)}", position)
            found = left in right
        elif isinstance(right, list):
            found = any(_equal(left, item) for item in right)
        else:
            raise ExpressionError(f"'{op}' needs a list or a string on its right, not {_type(right)}", position)
        return found if op == "in" else not found
    if op == "==":
        return _equal(left, right)
    if _undefined(left) or _undefined(right):
        return False  # NaN and null compare false, `!=` included: an undefined measurement fires nothing
    if op == "!=":
        return not _equal(left, right)
    comparable = (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        raise ExpressionError(f"cannot compare {_type(left)} {op} {_type(right)}", position)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _numbers(args: list, name: str, position: int) -> list[float]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return [_number(item, f"{name}()", position) for item in items]


def _extreme(pick: Callable) -> Callable:
    def function(args: list, position: int, name: str) -> float:
        items = _numbers(args, name, position)
        if not items or any(math.isnan(item) for item in items):
            return math.nan
        return pick(items)

    return function


def _sized(value: Any, name: str, position: int) -> Any:
    if not isinstance(value, (list, str)):
        raise ExpressionError(f"{name}() needs a list, not {_type(value)}", position)
    return value


FUNCTIONS: dict[str, Callable[[list, int, str], Any]] = {
    "abs": lambda args, position, name: abs(_number(args[0], "abs()", position)),
    "min": _extreme(min),
    "max": _extreme(max),
    "len": lambda args, position, name: len(_sized(args[0], name, position)),
    # The builtin sum, not math.fsum: inf - inf must give NaN here, not raise.
    "sum": lambda args, position, name: sum(_numbers([_sized(args[0], name, position)], name, position), 0.0),
    "any": lambda args, position, name: any(truth(v) for v in _sized(args[0], name, position)),
    "all": lambda args, position, name: all(truth(v) for v in _sized(args[0], name, position)),
    "isnan": lambda args, position, name: isinstance(args[0], float) and math.isnan(args[0]),
    "isfinite": lambda args, position, name: is_number(args[0]) and math.isfinite(_number(args[0], name, position)),
}


def _evaluate(node, values: Mapping[str, Any]) -> Any:
    kind = type(node)
    if kind is Literal:
        return node.value
    if kind is Name:
        if node.name not in values:
            raise MissingSignal(node.name)
        return plain(values[node.name])
    if kind is Exists:
        return node.name in values
    if kind is ListOf:
        return [_evaluate(item, values) for item in node.items]
    if kind is Prefix:
        operand = _evaluate(node.operand, values)
        if node.op == "not":
            return not truth(operand)
        number = _number(operand, f"'{node.op}'", node.position)
        return -number if node.op == "-" else number
    if kind is Logical:
        # Short-circuit, so `exists(x) and x > 1` never reads a missing x.
        stop = node.op == "or"
        for operand in node.operands:
            if truth(_evaluate(operand, values)) is stop:
                return stop
        return not stop
    if kind is Chain:
        return _chain(node, values)
    if kind is Call:
        args = [_evaluate(arg, values) for arg in node.args]
        return FUNCTIONS[node.function](args, node.position, node.function)
    raise TypeError(f"unknown node {node!r}")  # a bug in the parser, not user input


def _chain(node: Chain, values: Mapping[str, Any]) -> Any:
    left = _evaluate(node.first, values)
    arithmetic = node.rest[0][0] in ARITHMETIC
    for op, operand, position in node.rest:
        right = _evaluate(operand, values)
        if arithmetic:
            left = _arithmetic(op, left, right, position)
        elif not _compare(op, left, right, position):
            return False  # `a < b < c` holds only if every link does; later links are not evaluated
        else:
            left = right
    return left if arithmetic else True


def walk(node):
    """The node and every node below it."""
    yield node
    children = {
        ListOf: lambda n: n.items, Prefix: lambda n: (n.operand,), Logical: lambda n: n.operands,
        Chain: lambda n: (n.first, *(item[1] for item in n.rest)), Call: lambda n: n.args,
    }.get(type(node), lambda n: ())
    for child in children(node):
        yield from walk(child)
