"""Compare two checkpoints: the same images through both models, which landmarks changed, what weights moved.

    comparison = compare_checkpoints("runs/x/checkpoints/epoch_0015.pth", "runs/x/checkpoints/epoch_0050.pth")

Stages, one module each: `evaluate` (read, rebuild, predict), `stats` (paired
deltas, spread), `weights` (weight-space diff), `pictures` and `report`
(render). This module only strings them together; it measures and draws nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceph_doctor.compare.checkpoint_file import Checkpoint, read_checkpoint
from ceph_doctor.compare.evaluate import PairEvaluation, Progress, evaluate_pair
from ceph_doctor.compare.stats import Spread, prediction_spread
from ceph_doctor.compare.weights import WeightDiff, require_common, weight_diff
from ceph_doctor.signals.paired import LandmarkChanges, landmark_changes, paired_errors

__all__ = ["Comparison", "Finding", "compare_checkpoints"]


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    epoch: int | None  # the diagnosis's onset, when it has one


@dataclass
class Comparison:
    a: Checkpoint
    b: Checkpoint
    weights: WeightDiff
    pair: PairEvaluation | None = None  # None: nothing could be evaluated (see notes)
    changes: LandmarkChanges | None = None
    spread: Spread | None = None
    # Per side ("A", "B"): the engine's findings up to that checkpoint's epoch, or why there are none.
    findings: dict[str, list[Finding] | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def compare_checkpoints(path_a: str | Path, path_b: str | Path, data_overrides: list[tuple[str, Any]] = (),
                        progress: Progress | None = None) -> Comparison:
    a, b = read_checkpoint(Path(path_a)), read_checkpoint(Path(path_b))
    weights = weight_diff(a.state_dict, b.state_dict)
    pair, why_not = evaluate_pair(a, b, list(data_overrides), progress)
    if pair is None:
        # With nothing to evaluate, the weights are all there is to compare.
        require_common(weights, str(a.path), str(b.path))
    comparison = Comparison(a, b, weights, pair, notes=[why_not] if why_not else [])
    if not weights.compared:
        comparison.notes.append("the two models share no weight tensor of the same shape: weight diff skipped")
    if pair is not None:
        errors_a, errors_b, unit = paired_errors(pair.true, pair.a.result.pred, pair.b.result.pred, pair.spacing_mm)
        comparison.changes = landmark_changes(errors_a, errors_b, pair.names, unit)
        comparison.spread = prediction_spread(pair.image_ids, pair.names, pair.true,
                                              pair.a.result.pred, pair.b.result.pred)
    comparison.findings = engine_findings({"A": a, "B": b})
    return comparison


def run_directory(checkpoint_path: Path) -> Path | None:
    """`RUN/checkpoints/x.pth` → RUN, when RUN is a ceph-doctor run directory."""
    folder = checkpoint_path.resolve().parent
    run = folder.parent
    return run if folder.name == "checkpoints" and (run / "manifest.json").is_file() else None


def engine_findings(sides: dict[str, Checkpoint]) -> dict[str, list[Finding] | str]:
    """The diagnosis engine's findings on each side's run as it stood when the checkpoint was saved: what an
    analysis at that epoch would have said (a checkpoint at the best epoch has not overfitted yet)."""
    findings: dict[str, list[Finding] | str] = {}
    for label, checkpoint in sides.items():
        run = run_directory(checkpoint.path)
        if run is None:
            continue
        report = _analyse(run, checkpoint.epoch)
        if isinstance(report, str):
            findings[label] = report
            continue
        findings[label] = [Finding(d.id, d.severity, d.epoch) for d in report.diagnoses]
    return findings


def _analyse(run: Path, epoch: int | None):
    try:
        from ceph_doctor.analyze import analyze_run
        from ceph_doctor.engine import load_rules
        from ceph_doctor.store.reader import load_run

        recorded = load_run(run)
        return analyze_run(recorded if epoch is None else recorded.until(epoch), load_rules())
    # The engine is optional here: whatever stops it, the comparison itself still stands.
    except Exception as error:  # noqa: BLE001
        return f"diagnosis unavailable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
