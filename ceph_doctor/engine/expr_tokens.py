"""The tokens of the rule condition language (see `expr.py` for the grammar)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ceph_doctor.engine.expr_values import ExpressionError

KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),\[\]])",
    re.ASCII | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | name | keyword | op | end
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            char = source[position]
            if char in "'\"":
                raise ExpressionError("unterminated string", position)
            hint = " (use == to compare)" if char == "=" else ""
            raise ExpressionError(f"unexpected character {char!r}{hint}", position)
        kind, text = match.lastgroup, match.group()
        if kind == "name" and text in KEYWORDS:
            kind = "keyword"
        elif kind == "name" and any(part.startswith("__") for part in text.split(".")):
            # Only a dictionary key, but a name that looks like Python internals is surely a mistake.
            raise ExpressionError(f"{text!r} is not a signal name", position)
        if kind != "space":
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


def describe(token: Token) -> str:
    return "end of expression" if token.kind == "end" else repr(token.text)


def unquoted(text: str) -> str:
    """A string token's value: its quotes off, its escapes read."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1], flags=re.DOTALL)
