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
    units: dict[str, str] = field(default_factory=dict)  # evidence name → its unit (`ceph_doctor.numbers`)
    title: str = ""
    # Diagnoses this one explains (a diverged run's missed early stop): shown folded under it, and
    # not counted on their own (exit code, summary counts).
    explains: list["Diagnosis"] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("title")
        data["explains"] = [{"id": d.id, "severity": d.severity, "message": d.message, "epoch": d.epoch}
                            for d in self.explains]
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
    # Parts another tool's logs show no trace of ("a sequence decoder"): their checks do not apply.
    unseen_parts: list[str] = field(default_factory=list)
    # What is derived from the report once, however many formats show it (its plan, its figures).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    def to_json(self) -> dict[str, Any]:
        monitor = getattr(self.run, "monitor", None)
        best = self.signals.values.get("metric.best") if self.signals is not None else None
        return {
            "path": self.path,
            "source": self.source,
            "monitor": None if monitor is None else {
                "metric": monitor.metric, "mode": monitor.mode, "why": monitor.why,
                "best_epoch": None if best is None else best.epoch, "best": None if best is None else best.value,
            },
            "diagnoses": [d.to_json() for d in sorted(self.diagnoses, key=lambda d: SEVERITIES.index(d.severity))],
            "unread": list(getattr(self.run, "unread", [])),
            "not_checked": [asdict(n) for n in self.not_checked],
            "parts_not_seen": list(self.unseen_parts),
        }
