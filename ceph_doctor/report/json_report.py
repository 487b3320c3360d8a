"""`analyze --format json`: the DESIGN.md document, stable for CI and scripts.

    {"schema": 1, "runs": [RunReport.to_json(), ...]}

Evidence comes from signals and may hold numpy numbers, arrays, paths or non-finite floats. The
output is strict JSON that any parser reads: numpy values become plain numbers and lists, NaN and
±inf become null (the message still quotes the number), anything else unknown becomes its string.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.engine.plan import plan_of

SCHEMA = 1


def render_json(reports: Sequence[RunReport]) -> str:
    document = {"schema": SCHEMA, "runs": [_run(report) for report in reports]}
    return json.dumps(_plain(document), indent=2, ensure_ascii=False, allow_nan=False)


def _run(report: RunReport) -> dict[str, Any]:
    """A run's entry: what the engine concluded, and the treatment plan of its diagnoses (`engine.plan`)."""
    entry = report.to_json()
    entry["plan"] = [step.to_json() for step in plan_of(report).steps]
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)  # paths, enums, anything a signal may carry
