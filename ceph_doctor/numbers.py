"""How a number reads, by its kind: the one answer for rule messages, evidence, run facts and figures.

A signal's unit says its kind:

    "change"   a signed relative change, stored as a fraction       0.213 → +21%      -0.0004 → -0.04%
    "change/epoch"  the same per epoch                              0.147 → +15%/epoch
    "share"    a part of a whole, stored as a fraction              0.75 → 75%        0.00012 → 0.012%
    "×"        a multiplicative ratio                               0.0195 → 0.02×    3.47e10 → 3.5e10×
    "%"        already in percent                                   56.2 → 56%
    "px", "mm" a length                                             3.214 → 3.21 mm
    "epoch"    a point in training                                  10.0 → epoch 10
    "epochs", "validations", "steps", "landmarks", …  a count        1 → 1 step        3 → 3 steps
    ""         a plain number                                       0.0002134 → 0.0002134

Numbers keep three significant digits (four for plain numbers), never print "-0", and switch to a short
exponent (4.3e10) instead of a long row of digits.
"""

from __future__ import annotations

import math
from typing import Any

PERCENT_KINDS = ("change", "share")
LENGTH_UNITS = ("px", "mm")
COUNT_NOUNS = ("epochs", "validations", "steps", "landmarks", "images", "spikes", "runs", "parameters")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def significant(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant digits, without an exponent between 1e-4 and 1e5; never "-0"."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-4:
        mantissa, exponent = f"{value:.{max(digits - 1, 0)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    decimals = max(digits - 1 - math.floor(math.log10(magnitude)), 0)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if float(text) == 0 else text


def percent(fraction: float, signed: bool = False) -> str:
    """A fraction as a percentage: whole percents from 10 % up, two significant digits below."""
    if not math.isfinite(fraction):
        return significant(fraction)
    value = fraction * 100
    magnitude = abs(value)
    text = f"{value:.0f}" if magnitude >= 9.5 else significant(value, 2)
    if float(text) == 0:
        text = "0"
    elif signed and not text.startswith("-"):
        text = "+" + text
    return text + "%"


def plural(count: float, noun: str) -> str:
    """The noun of a count: "step" for 1, "steps" otherwise (given either form)."""
    singular = noun[:-1] if noun.endswith("s") and noun not in ("", "s") else noun
    return singular if count == 1 else (noun if noun.endswith("s") else noun + "s")


def quantity(value: Any, unit: str = "") -> str:
    """A measured value as a reader wants it, by its unit (see the module's table)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(quantity(item, unit) for item in value)
    if not is_number(value):
        return "none" if value is None else str(value)
    if unit == "change":
        return percent(value, signed=True)
    if unit == "change/epoch":
        return percent(value, signed=True) + "/epoch"
    if unit == "share":
        return percent(value)
    if unit in ("×", "x", "ratio"):
        return f"{significant(value, 2 if abs(value) < 1 else 3)}×"
    if unit == "%":
        return f"{significant(value, 3)}%"
    if unit == "epoch":
        return f"epoch {_integer(value)}"
    if unit in COUNT_NOUNS or unit.rstrip("s") + "s" in COUNT_NOUNS:
        shown = _integer(value)
        return f"{shown} {plural(value, unit)}"
    if unit in LENGTH_UNITS:
        return f"{significant(value, 3)} {unit}"
    text = significant(value, 4)
    return f"{text} {unit}" if unit else text


def _integer(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else significant(value, 3)
