"""Each part's effect, landmark by landmark, against the noise of the training seed.

The answer of a run is its validation predictions at the monitored metric's best epoch, in the form a user
would ship them: after the refinement stage when there is one, else after test-time augmentation, else
the model's own (ceph-doctor's refinement starts from the plain prediction, not from the averaged views).

A part's effect on a landmark is its mean error with the part minus without it, over the same validation
images (positive: the part makes it worse). Two things must both hold for it to count:

* it exceeds seed noise. The reference config is trained once per seed. Each landmark's mean error
  across those repeats, relative to its level, gives one deviation per landmark and seed; σ is their
  robust spread pooled over landmarks (median absolute deviation: a landmark or two that one seed gets
  badly wrong must not widen every landmark's band, and one landmark alone would have N−1 degrees of
  freedom). A variant (one seed) differs from the mean of N repeats by noise of σ·√(1 + 1/N); the band is
  Student's quantile of that, at K·(N−1) degrees of freedom: 97.5 % for the overall MRE (one test per
  part), and Bonferroni's 1 − 0.025/K for each of the K landmarks (K tests at once: at 97.5 % each, one
  landmark in twenty would be a finding by chance). A landmark's band is never narrower than its own
  range across the repeats, so a landmark the seed moves a lot keeps its own wide band. The overall MRE
  uses the same relative σ, an upper bound there since landmarks move together with the seed.
* it holds image by image: the paired signed-rank test over images with Benjamini–Hochberg control
  across landmarks (`signals/paired.py`, the test `compare` uses).

An effect inside the band is "within seed noise", never a finding. With one seed there is no band, and
nothing is called a finding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ceph_doctor.ablate.plan import Plan, Variant
from ceph_doctor.signals.paired import IMPROVED, REGRESSED, landmark_changes
from ceph_doctor.signals.series import metric_curve, val_predictions
from ceph_doctor.store.reader import load_run

HURTS, HELPS = "hurts", "helps"
WITHIN_NOISE, NOT_PAIRED, NO_NOISE = "within seed noise", "not significant over images", "seed noise not measured"
SDR_MM = 2.0  # the field's headline success rate: the share of points within 2 mm
# Preferred answer first: what a user would ship (see the module docstring).
ANSWER_DECODES = ("refined", "tta")


@dataclass
class RunAnswer:
    variant: str
    errors: pd.DataFrame  # index image_id, one column per landmark
    unit: str  # "mm" | "px"
    epoch: int  # the monitored metric's best
    decode: str
    epoch_seconds: np.ndarray  # wall time of each epoch after the first (training and validation)
    images_per_s: float  # training throughput, as the recorder logged it

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.median(self.epoch_seconds)) if len(self.epoch_seconds) else np.nan


@dataclass
class SeedNoise:
    seeds: int
    relative_sd: float  # σ of a landmark's mean error across seeds, as a share of it; NaN with one seed
    degrees_of_freedom: int
    factor: float  # overall band = factor · relative_sd · level
    landmark_factor: float = np.nan  # the same for one of K landmarks tested at once
    own_range: pd.Series | None = None  # per landmark: its mean error's range across the reference seeds

    @property
    def measured(self) -> bool:
        return bool(np.isfinite(self.relative_sd))

    def band(self, level: float | np.ndarray, landmarks: list[str] | None = None) -> float | np.ndarray:
        """The overall band at `level`, or with `landmarks` each landmark's band at its own level."""
        if landmarks is None:
            return self.factor * self.relative_sd * level
        pooled = self.landmark_factor * self.relative_sd * level
        own = self.own_range.reindex(landmarks).to_numpy(float) if self.own_range is not None else pooled
        return np.fmax(pooled, own)


@dataclass
class Cost:
    seconds_with: float  # per epoch, median
    seconds_without: float
    images_per_s_with: float
    images_per_s_without: float
    relative: float  # (with − without) / without, per epoch
    costs_time: bool  # slower by more than the reference's own repeats differ (their timing noise band)


@dataclass
class PartEffect:
    part: str
    description: str
    off: dict
    variant: str
    # index landmark: error_with, error_without, effect, band, p_adjusted, verdict
    table: pd.DataFrame
    overall: dict  # error_with, error_without, effect, band, p_value, verdict, sdr_with, sdr_without
    cost: Cost

    def named(self, verdict: str) -> list[str]:
        return list(self.table.index[self.table["verdict"] == verdict])

    @property
    def hurt(self) -> list[str]:
        return self.named(HURTS)

    @property
    def helped(self) -> list[str]:
        return self.named(HELPS)


@dataclass
class AblationResult:
    plan: Plan
    unit: str
    noise: SeedNoise
    effects: list[PartEffect]
    reference: RunAnswer | None  # the first seed's reference run
    answers: dict[str, RunAnswer] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # variants without a finished run
    notes: list[str] = field(default_factory=list)


def read_answer(plan: Plan, variant: Variant) -> RunAnswer:
    run = load_run(plan.run_dir(variant))
    epoch = metric_curve(run).best_epoch
    frame = run.predictions
    decodes = set(frame["decode"]) if "decode" in frame else set()
    decode = next((name for name in ANSWER_DECODES if name in decodes), None)
    rows = val_predictions(run, decode).frame()
    rows = rows[rows["epoch"] == epoch]
    unit = "mm" if rows["error_mm"].notna().all() else "px"
    errors = rows.pivot_table(index="image_id", columns="landmark", values=f"error_{unit}", sort=False, dropna=False)
    errors = errors[[name for name in run.landmarks if name in errors.columns]]
    scalars = run.scalars
    ends = scalars.groupby("epoch")["wall_time"].max().sort_index().to_numpy()
    throughput = scalars.loc[scalars["tag"] == "perf/images_per_s", "value"]
    return RunAnswer(variant.name, errors, unit, epoch, rows["decode"].iloc[0] if len(rows) else "",
                     np.diff(ends[np.isfinite(ends)]), float(throughput.mean()) if len(throughput) else np.nan)


def seed_noise(references: list[RunAnswer]) -> SeedNoise:
    if len(references) < 2:
        return SeedNoise(len(references), np.nan, 0, np.nan)
    images = references[0].errors.index
    means = pd.DataFrame([answer.errors.reindex(images).mean(axis=0) for answer in references])  # (N, K)
    level = means.mean(axis=0)
    usable = means.notna().all(axis=0) & (level > 0)
    relative = ((means.loc[:, usable] - level[usable]) / level[usable]).to_numpy()
    n, k = len(references), int(usable.sum())
    df = k * (n - 1)
    if df < 1:
        return SeedNoise(n, np.nan, 0, np.nan)
    # Deviations from the mean of n repeats have variance σ²·(n − 1)/n; 0.6745 is a normal's median |z|.
    relative_sd = float(np.median(np.abs(relative)) / 0.6745 * np.sqrt(n / (n - 1)))
    spread = np.sqrt(1.0 + 1.0 / n)
    factor = float(stats.t.ppf(0.975, df) * spread)
    landmark_factor = float(stats.t.ppf(1.0 - 0.025 / k, df) * spread)
    return SeedNoise(n, relative_sd, df, factor, landmark_factor, means.max(axis=0) - means.min(axis=0))


def part_effect(part: dict, variant: RunAnswer, references: list[RunAnswer], noise: SeedNoise, mode: str) -> PartEffect:
    images = references[0].errors.index.intersection(variant.errors.index)
    landmarks = [name for name in references[0].errors.columns if name in variant.errors.columns]
    stack = np.stack([answer.errors.reindex(index=images, columns=landmarks).to_numpy() for answer in references])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark no reference saw on an image
        reference = np.nanmean(stack, axis=0)
    varied = variant.errors.reindex(index=images, columns=landmarks).to_numpy()
    # Leave-one-out: the reference has the part; add-one-in: the variant has it.
    with_part, without_part = (reference, varied) if mode == "leave-one-out" else (varied, reference)
    changes = landmark_changes(without_part, with_part, landmarks, variant.unit)
    level = np.nanmean(reference, axis=0)
    table = pd.DataFrame({
        "error_with": changes.table["error_b"], "error_without": changes.table["error_a"],
        "effect": changes.table["delta"], "band": noise.band(level, landmarks) if noise.measured else np.nan,
        "p_adjusted": changes.table["p_adjusted"],
    }, index=pd.Index(landmarks, name="landmark"))
    table["verdict"] = [_verdict(effect, band, paired, noise.measured)
                        for effect, band, paired in zip(table["effect"], table["band"], changes.table["verdict"])]
    overall_band = noise.band(float(np.nanmean(reference))) if noise.measured else np.nan
    overall = {
        "error_with": changes.overall["error_b"], "error_without": changes.overall["error_a"],
        "effect": changes.overall["delta"], "band": overall_band, "p_value": changes.overall["p_value"],
        "verdict": _verdict(changes.overall["delta"], overall_band, changes.overall["verdict"], noise.measured),
        "sdr_with": _sdr(with_part, variant.unit), "sdr_without": _sdr(without_part, variant.unit),
    }
    with_runs, without_runs = (references, [variant]) if mode == "leave-one-out" else ([variant], references)
    return PartEffect(part["name"], part.get("description", ""), dict(part["off"]), variant.variant, table, overall,
                      _cost(with_runs, without_runs, references))


def _verdict(effect: float, band: float, paired: str, measured: bool) -> str:
    if not measured:
        return NO_NOISE
    if not np.isfinite(effect) or abs(effect) <= band:
        return WITHIN_NOISE
    if effect > 0 and paired == REGRESSED:
        return HURTS
    if effect < 0 and paired == IMPROVED:
        return HELPS
    return NOT_PAIRED


def _sdr(errors: np.ndarray, unit: str) -> float:
    """Percentage of measured points within 2 mm; NaN without a pixel spacing (no mm to count in)."""
    measured = errors[np.isfinite(errors)] if unit == "mm" else np.array([])
    return float(100.0 * np.mean(measured <= SDR_MM)) if len(measured) else np.nan


def _cost(with_runs: list[RunAnswer], without_runs: list[RunAnswer], references: list[RunAnswer]) -> Cost:
    seconds_with, seconds_without = _median_epoch(with_runs), _median_epoch(without_runs)
    relative = (seconds_with - seconds_without) / seconds_without if seconds_without > 0 else np.nan
    # Timing noise is measured like seed noise: between runs of the one config, never within one run, whose
    # epochs share the machine's load of the moment. With two repeats it has one degree of freedom, and only
    # a large cost (a second stage, ten test-time views) can be told from it.
    times = np.array([run.seconds_per_epoch for run in references])
    times = times[np.isfinite(times)]
    costs_time = False
    if len(times) >= 2 and np.isfinite(relative):
        spread = float(np.std(times, ddof=1) / np.mean(times))
        band = stats.t.ppf(0.975, len(times) - 1) * np.sqrt(1.0 + 1.0 / len(times)) * spread
        costs_time = bool(relative > band)
    return Cost(seconds_with, seconds_without, _mean_rate(with_runs), _mean_rate(without_runs), relative, costs_time)


def _median_epoch(runs: list[RunAnswer]) -> float:
    seconds = np.concatenate([run.epoch_seconds for run in runs])
    return float(np.median(seconds)) if len(seconds) else np.nan


def _mean_rate(runs: list[RunAnswer]) -> float:
    rates = [run.images_per_s for run in runs if np.isfinite(run.images_per_s)]
    return float(np.mean(rates)) if rates else np.nan


def measure(plan: Plan) -> AblationResult:
    """The effects of every part whose variant has finished, against the finished reference runs."""
    answers: dict[str, RunAnswer] = {}
    missing = []
    for variant in plan.variants:
        if plan.state(variant) == "finished":
            answers[variant.name] = read_answer(plan, variant)
        else:
            missing.append(variant.name)
    references = [answers[variant.name] for variant in plan.references if variant.name in answers]
    notes = []
    if not references:
        return AblationResult(plan, "mm", seed_noise([]), [], None, answers, missing,
                              ["no reference run has finished: nothing to compare against"])
    noise = seed_noise(references)
    if not noise.measured:
        notes.append("one seed only: seed noise is not measured, so no effect can be told from it (--seeds 2 or more)")
    parts = {part["name"]: part for part in plan.parts}
    effects = [part_effect(parts[variant.part], answers[variant.name], references, noise, plan.mode)
               for variant in plan.part_variants if variant.name in answers]
    return AblationResult(plan, references[0].unit, noise, effects, references[0], answers, missing, notes)
