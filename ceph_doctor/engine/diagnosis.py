"""What the engine concludes about a run: diagnoses with evidence and fixes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")  # most severe first


@dataclass
class Fix:
    key: str  # a canonical config key, e.g. "optimizer.lr"
    op: str  # "set" | "multiply" | "enable"
    value: Any
    reason: str


@dataclass
class Diagnosis:
    id: str
    severity: str
    message: str
    epoch: int | None = None
    landmarks: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    fixes: list[Fix] = field(default_factory=list)
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("title")
        return data


@dataclass
class NotChecked:
    signal: str
    needs: str


@dataclass
class RunReport:
    """Everything the renderers need about one analyzed run."""

    path: str
    source: str  # "ceph-doctor" | "tensorboard" | "mmengine" | "csv" | "text"
    diagnoses: list[Diagnosis]
    not_checked: list[NotChecked]
    run: Any = None  # the Run, for figures
    signals: Any = None  # the SignalSet

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source": self.source,
            "diagnoses": [d.to_json() for d in sorted(self.diagnoses, key=lambda d: SEVERITIES.index(d.severity))],
            "not_checked": [asdict(n) for n in self.not_checked],
        }
