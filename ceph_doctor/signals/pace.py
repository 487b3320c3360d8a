"""Signals of whether a run is on track: against the milestones its config sets (`train.doctor.milestones`:
"under 5 mm by epoch 50") or against a finished reference run (`train.doctor.reference`, `--reference`).

The later half of the metric's curve so far (at least four validations: the first epochs of a run, a warm-up, a
plateau before the drop, follow no one law) is fitted with a saturating curve, value = a + b · epoch^(-c) (the
power law learning curves settle into; c chosen on a grid, a and b by least squares), and its residuals are the
run's own noise. Projections stay within what the metric can hold (an error not below 0, a bounded score not
above its full scale). A run is behind when its best value so far trails the target by more than twice that noise (the
reference's noise added in quadrature); a milestone still ahead is missed when even the optimistic end of the
projection at its epoch (the 90 % band of 200 residual bootstrap refits) falls short of it. The projection of
the final value (at the run's last configured epoch, or the reference's last) is given with its band.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, NotApplicable, Signal, own_setting, signal_family
from ceph_doctor.signals.series import BOUNDED, by_epoch, metric_curve
from ceph_doctor.store.meaning import direction, parse
from ceph_doctor.store.reader import Run

EXPONENTS = np.linspace(0.1, 3.0, 30)  # the grid of c in a + b · epoch^(-c)
BOOTSTRAP = 200
NOISE_MULTIPLE = 2.0  # trailing by more than twice the run's own noise is no chance dip


class Projection:
    """The saturating curve through the later half of (epochs, values), and its spread by residual bootstrap."""

    def __init__(self, epochs: np.ndarray, values: np.ndarray, tag: str):
        later = slice(min(len(values) // 2, max(len(values) - 4, 0)), None)
        self.epochs, self.values = epochs[later].astype(float), values[later].astype(float)
        # What the metric can hold: never below 0 if it never was, never above a bounded score's full scale.
        self.low = 0.0 if values.min() >= 0 else -np.inf
        self.high = (1.0 if values.max() <= 1 else 100.0) if parse(tag).quantity in BOUNDED else np.inf
        errors = [self._fit(exponent, self.values)[1] for exponent in EXPONENTS]
        self.exponent = float(EXPONENTS[int(np.argmin(errors))])
        self.coefficients, _ = self._fit(self.exponent, self.values)
        fitted = self._design(self.epochs) @ self.coefficients
        self.residuals = self.values - fitted
        self.noise = float(np.sqrt((self.residuals**2).sum() / max(len(self.values) - 2, 1)))
        rng = np.random.default_rng(0)  # deterministic: the same run always projects the same band
        self.refits = np.stack([
            self._fit(self.exponent, fitted + rng.choice(self.residuals, len(fitted)))[0] for _ in range(BOOTSTRAP)])

    def _design(self, epochs: np.ndarray, exponent: float | None = None) -> np.ndarray:
        return np.stack([np.ones_like(epochs), epochs ** -(self.exponent if exponent is None else exponent)], axis=1)

    def _fit(self, exponent: float, values: np.ndarray) -> tuple[np.ndarray, float]:
        design = self._design(self.epochs, exponent)
        coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
        return coefficients, float(((design @ coefficients - values) ** 2).sum())

    def at(self, epoch: float) -> tuple[float, float, float]:
        """(projection, 5th, 95th percentile) at `epoch`."""
        design = self._design(np.array([float(epoch)]))
        middle = float((design @ self.coefficients)[0])
        spread = (self.refits @ design.T)[:, 0]
        low, high = np.percentile(spread, 5), np.percentile(spread, 95)
        return tuple(float(np.clip(value, self.low, self.high)) for value in (middle, low, high))


def _unit(tag: str) -> str:
    """The length unit the metric's name says (`val/mre_mm`, `MRE (mm)`, `error_px`), or "" for a unitless one."""
    unit = parse(tag).unit
    return unit if unit in ("mm", "px") else ""


def _best_so_far(epochs: np.ndarray, values: np.ndarray, mode: str, epoch: int) -> float | None:
    kept = values[(epochs <= epoch) & np.isfinite(values)]
    if not len(kept):
        return None
    return float(kept.min() if mode == "min" else kept.max())


def _trails(value: float, target: float, mode: str) -> float:
    """How far `value` is behind `target` (> 0: behind), in the metric's own units."""
    return value - target if mode == "min" else target - value


def _curve(run: Run, tag: str) -> tuple[np.ndarray, np.ndarray]:
    values = by_epoch(run, tag)
    finite = np.isfinite(values.values)
    return values.at[finite].astype(int), values.values[finite]


@signal_family("pace", provides=(
    "pace.behind", "pace.against", "pace.ahead", "pace.metric", "pace.epoch", "pace.value", "pace.target", "pace.noise",
    "pace.projected", "pace.projected_low", "pace.projected_high", "pace.projected_epoch", "pace.reference_final",
))
def pace_signals(run: Run):
    milestones = own_setting(run, "train.doctor.milestones", None) or {}
    reference = getattr(run, "reference", None)
    if not milestones and reference is None:
        problem = getattr(run, "reference_problem", None)
        if problem:
            raise MissingInput(problem)
        raise NotApplicable("no milestones and no reference run (train.doctor.milestones, train.doctor.reference)")
    judged = [_against_milestone(run, int(epoch), tag, float(target))
              for epoch, targets in sorted(milestones.items(), key=lambda item: int(item[0]))
              for tag, target in targets.items()]
    if reference is not None:
        judged.append(_against_reference(run, reference))
    judged = [verdict for verdict in judged if verdict is not None]
    if not judged:
        raise MissingInput("four validations of the metric the milestones or the reference run name")
    behind = [verdict for verdict in judged if verdict["behind"]]
    chosen = behind[0] if behind else judged[-1]
    unit, epoch = _unit(chosen["metric"]), chosen["epoch"]
    yield Signal("pace.behind", bool(behind), "", epoch)
    yield Signal("pace.against", chosen["against"], "", epoch)
    yield Signal("pace.ahead", chosen["ahead"], "", epoch, "the milestone is still ahead: judged by the projection")
    yield Signal("pace.metric", chosen["metric"], "", epoch)
    yield Signal("pace.epoch", epoch, "epoch", epoch)
    for name in ("value", "target", "noise", "projected", "projected_low", "projected_high"):
        yield Signal(f"pace.{name}", chosen[name], unit, epoch)
    yield Signal("pace.projected_epoch", chosen["projected_epoch"], "epoch", chosen["projected_epoch"])
    if chosen.get("reference_final") is not None:
        yield Signal("pace.reference_final", chosen["reference_final"], unit, chosen["projected_epoch"])


def _last_epoch(run: Run) -> int | None:
    configured = own_setting(run, "train.max_epochs", None)
    return int(configured) if configured else None


def _against_milestone(run: Run, milestone: int, tag: str, target: float) -> dict | None:
    mode = direction(tag)
    epochs, values = _curve(run, tag)
    if mode is None or len(values) < 4:
        return None
    projection = Projection(epochs, values, tag)
    last = int(epochs.max())
    ahead = milestone > last
    if not ahead:  # reached: the best it had by then, against the target, beyond its noise
        best = _best_so_far(epochs, values, mode, milestone)
        behind = best is not None and _trails(best, target, mode) > NOISE_MULTIPLE * projection.noise
        epoch, value, projected_epoch = milestone, best, max(last, _last_epoch(run) or last)
    else:  # ahead: missed if even the hopeful end of the projection at it falls short
        _, low, high = projection.at(milestone)
        behind = _trails(low if mode == "min" else high, target, mode) > 0
        epoch, value, projected_epoch = last, _best_so_far(epochs, values, mode, last), milestone
    if value is None:
        return None
    middle, low, high = projection.at(projected_epoch)
    return {"behind": behind, "ahead": ahead, "against": f"the milestone of epoch {milestone}", "metric": tag,
            "epoch": epoch,
            "value": value, "target": target, "noise": projection.noise, "projected": middle,
            "projected_low": low, "projected_high": high, "projected_epoch": projected_epoch}


def _against_reference(run: Run, reference: Run) -> dict | None:
    try:
        curve = metric_curve(run)
    except MissingInput:
        return None
    tag, mode = curve.tag, curve.mode
    epochs, values = _curve(run, tag)
    theirs_epochs, theirs = _curve(reference, tag)
    if len(values) < 4 or len(theirs) < 4:
        return None
    last = int(epochs.max())
    ours_best, theirs_best = _best_so_far(epochs, values, mode, last), _best_so_far(theirs_epochs, theirs, mode, last)
    if theirs_best is None:
        return None
    projection, their_projection = Projection(epochs, values, tag), Projection(theirs_epochs, theirs, tag)
    noise = float(np.hypot(projection.noise, their_projection.noise))
    projected_epoch = max(int(theirs_epochs.max()), last)
    middle, low, high = projection.at(projected_epoch)
    return {"behind": _trails(ours_best, theirs_best, mode) > NOISE_MULTIPLE * noise, "ahead": False,
            "against": f"the reference run {reference.path.name}", "metric": tag, "epoch": last, "value": ours_best,
            "target": theirs_best, "noise": noise, "projected": middle, "projected_low": low, "projected_high": high,
            "projected_epoch": projected_epoch,
            "reference_final": _best_so_far(theirs_epochs, theirs, mode, projected_epoch)}
