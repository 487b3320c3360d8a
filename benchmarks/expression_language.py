"""The rule condition language's own parser against Python's `ast` (what a whitelist evaluator such as
simpleeval parses with), on the built-in rule pack and on the mistakes rule authors make.

    python benchmarks/expression_language.py [--repeats 200]

Prints, for every condition of the built-in rules (`when`, message alternatives): whether Python's
grammar reads it as written; the parse time of both (median of rounds, alternated); and for the syntax
errors of tests/test_expr.py whether each parser points at the culprit. The language keeps its own
parser where these say Python's cannot read the rules as they are written or cannot say where they are
wrong; the evaluation (NaN and null compare false, a missing signal is named) is ours either way.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time

from ceph_doctor.engine import load_rules
from ceph_doctor.engine.expr import ExpressionError, parse

# (text, the 1-based column of the culprit), as tests/test_expr.py asserts them.
MISTAKES = [
    ("a > )", 5), ("(a > 1", 7), ("a = 1", 3), ("a ** 2", 4), ("a > 'open", 5), ("foo(1)", 1),
    ("len(a, b)", 1), ("exists(1 + 2)", 1), ("a b", 3), ("", 1),
]


def conditions() -> list[str]:
    found = []
    for rule in load_rules():
        found.append(str(rule.when))
        found += [str(when) for when, _ in rule.message_cases]
    return found


def python_reads(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
        return True
    except SyntaxError:
        return False


def python_column(text: str) -> int | None:
    """Where Python's parser points, or None when it accepts the text (a whitelist must then reject it)."""
    try:
        ast.parse(text, mode="eval")
        return None
    except SyntaxError as error:
        return error.offset


def ours_column(text: str) -> int | None:
    try:
        parse(text)
        return None
    except ExpressionError as error:
        return None if error.position is None else error.position + 1


def timed(function, texts: list[str], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        for text in texts:
            function(text)
    return (time.perf_counter() - started) / (repeats * len(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    texts = conditions()
    unreadable = [text for text in texts if not python_reads(text)]
    print(f"built-in conditions: {len(texts)}; Python's grammar cannot read {len(unreadable)} as written:")
    for text in unreadable:
        print(f"  {' '.join(text.split())[:100]}")

    readable = [text for text in texts if python_reads(text)] or texts
    ours, python = [], []
    for _ in range(5):  # alternated rounds: machine noise hits both alike
        ours.append(timed(parse, readable, args.repeats))
        python.append(timed(lambda text: ast.parse(text, mode="eval"), readable, args.repeats))
    print(f"parse time per condition: ours {statistics.median(ours) * 1e6:.1f} µs, "
          f"ast.parse alone {statistics.median(python) * 1e6:.1f} µs "
          f"(ratio {statistics.median(ours) / statistics.median(python):.2f}; ast.parse before any whitelist walk)")

    right = {"ours": 0, "python": 0}
    accepted = 0
    print("syntax errors: column of the culprit / ours / Python's (None: accepted, left to a whitelist)")
    for text, column in MISTAKES:
        mine, theirs = ours_column(text), python_column(text)
        right["ours"] += mine == column
        right["python"] += theirs == column
        accepted += theirs is None
        print(f"  {text!r:18} {column:>3} {mine!s:>5} {theirs!s:>6}")
    print(f"pointed at the culprit: ours {right['ours']}/{len(MISTAKES)}; Python's parser {right['python']} of the "
          f"{len(MISTAKES) - accepted} it rejects, and {accepted} it accepts that a whitelist would have to reject")


if __name__ == "__main__":
    main()
