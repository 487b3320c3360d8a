"""The condition language of rule files: a small, safe expression language over signal values.

User text is never given to Python's eval/exec/compile: a tokenizer (`expr_tokens.py`) and a
recursive-descent parser build a tree of the node types of `expr_values.py`, which also evaluates it.
Nothing in the tree can reach a Python attribute, a module or a callable outside the
whitelist in `FUNCTIONS`, so a rule file cannot run code.

Grammar (lowest precedence first; comparisons chain like Python's: `0 < x <= 1`):

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not" "in") sum)*
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME | call | list | "(" expression ")"
    call       := FUNCTION "(" [expression ("," expression)*] ")"
    list       := "[" [expression ("," expression)*] "]"
    NAME       := a dotted signal name, e.g. collapse.spread_ratio (segments after a dot may start with a digit)

Values: numbers, strings, booleans, null, lists. The semantics favour rules that stay quiet when
a measurement is undefined: every comparison involving NaN or null is false (`!=` too), arithmetic
on null gives NaN, and division by zero gives NaN instead of raising. A name absent from the
signals raises `MissingSignal`; `exists(name)` / `has(name)` test for it without raising.

Why not Python's own parser (`ast`, as simpleeval uses) with a whitelist: it cannot read the language as
rules write it (`sdr.2mm`, conditions over several lines) nor point at most mistakes
(`python benchmarks/expression_language.py` measures both); the semantics above are ours either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ceph_doctor.engine.expr_tokens import Token, describe, tokenize, unquoted
from ceph_doctor.engine.expr_values import (  # noqa: F401 (re-exported: the language's public names)
    COMPARISONS, FUNCTIONS, Call, Chain, Exists, ExpressionError, ListOf, Literal, Logical, MissingSignal, Name,
    Prefix, _evaluate, is_number, plain, truth, walk,
)

MAX_LENGTH = 2000
MAX_DEPTH = 20  # nested parentheses, brackets, calls and prefix operators; keeps recursion bounded


# ---------------------------------------------------------------- parser

ONE_ARGUMENT = {"abs", "len", "sum", "any", "all", "isnan", "isfinite"}
PRESENCE_TESTS = {"exists", "has"}


class _Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def accept(self, *texts: str) -> Token | None:
        if self.token.kind in ("op", "keyword") and self.token.text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        token = self.accept(text)
        if token is None:
            raise ExpressionError(f"expected {text!r}, found {describe(self.token)}", self.token.position)
        return token

    def nested(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep", position)

    def parse(self):
        tree = self.logical("or", self.conjunction)
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {describe(self.token)}", self.token.position)
        return tree

    def conjunction(self):
        return self.logical("and", self.negation)

    def logical(self, op: str, operand: Callable[[], Any]):
        start = self.token.position
        operands = [operand()]
        while self.accept(op):
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Logical(op, tuple(operands), start)

    def negation(self):
        token = self.accept("not")
        if token is None:
            return self.comparison()
        self.nested(token.position)
        node = Prefix("not", self.negation(), token.position)
        self.depth -= 1
        return node

    def comparison(self):
        first, rest = self.sum(), []
        while True:
            token = self.token
            if self.accept(*COMPARISONS, "in"):
                op = token.text
            elif token.text == "not" and self.tokens[self.index + 1].text == "in":
                self.index += 2
                op = "not in"
            else:
                break
            rest.append((op, self.sum(), token.position))
        return Chain(first, tuple(rest), first.position) if rest else first

    def sum(self):
        return self.chain(("+", "-"), self.product)

    def product(self):
        return self.chain(("*", "/"), self.unary)

    def chain(self, ops: tuple[str, ...], operand: Callable[[], Any]):
        first, rest = operand(), []
        while (token := self.accept(*ops)) is not None:
            rest.append((token.text, operand(), token.position))
        return Chain(first, tuple(rest), first.position) if rest else first

    def unary(self):
        token = self.accept("-", "+")
        if token is None:
            return self.primary()
        self.nested(token.position)
        node = Prefix(token.text, self.unary(), token.position)
        self.depth -= 1
        return node

    def primary(self):
        token = self.take()
        if token.kind == "number":
            return Literal(float(token.text), token.position)
        if token.kind == "string":
            return Literal(unquoted(token.text), token.position)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.text], token.position)
        if token.kind == "name":
            if self.token.text == "(":
                return self.call(token)
            return Name(token.text, token.position)
        if token.text in ("(", "["):
            self.nested(token.position)
            if token.text == "(":
                node = self.logical("or", self.conjunction)
                self.expect(")")
            else:
                node = ListOf(tuple(self.arguments("]")), token.position)
            self.depth -= 1
            return node
        raise ExpressionError(f"unexpected {describe(token)}", token.position)

    def call(self, name: Token):
        if name.text not in FUNCTIONS and name.text not in PRESENCE_TESTS:
            known = ", ".join(sorted([*FUNCTIONS, *PRESENCE_TESTS]))
            raise ExpressionError(f"unknown function {name.text!r} (known: {known})", name.position)
        self.nested(name.position)
        self.expect("(")
        args = self.arguments(")")
        self.depth -= 1
        if name.text in PRESENCE_TESTS:
            if len(args) != 1 or not isinstance(args[0], Name):
                raise ExpressionError(f"{name.text}() takes one signal name", name.position)
            return Exists(args[0].name, name.position)
        if (name.text in ONE_ARGUMENT and len(args) != 1) or not args:
            wanted = "one argument" if name.text in ONE_ARGUMENT else "arguments"
            raise ExpressionError(f"{name.text}() takes {wanted}", name.position)
        return Call(name.text, tuple(args), name.position)

    def arguments(self, closing: str) -> list:
        items = []
        if self.accept(closing):
            return items
        while True:
            items.append(self.logical("or", self.conjunction))
            if self.accept(closing):
                return items
            self.expect(",")


@dataclass(frozen=True)
class Expression:
    """A parsed condition: its source text and its tree."""

    source: str
    tree: Any

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return _evaluate(self.tree, values)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is true for these signal values (see `truth`)."""
        return truth(self.evaluate(values))

    def __str__(self) -> str:
        return self.source


def parse(source: str) -> Expression:
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise ExpressionError("empty expression", 0)
    return Expression(source, _Parser(source).parse())


def names(expression: Expression | str) -> frozenset[str]:
    """Every signal name the expression mentions, including those only tested with exists()."""
    return frozenset(node.name for node in walk(_tree(expression)) if isinstance(node, (Name, Exists)))


def required_names(expression: Expression | str) -> frozenset[str]:
    """The signal names the expression needs: those it reads, less those it tests with exists().

    A name tested with exists() is optional by declaration (`exists(x) and x > 1`); if the
    expression still reads it unguarded, evaluation raises MissingSignal for it.
    """
    nodes = list(walk(_tree(expression)))
    optional = {node.name for node in nodes if isinstance(node, Exists)}
    return frozenset(node.name for node in nodes if isinstance(node, Name)) - optional


def _tree(expression: Expression | str):
    return (expression if isinstance(expression, Expression) else parse(expression)).tree
