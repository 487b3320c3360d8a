"""An ablation's parts judged: each part's measured effect as `part.*` signals, the rules of rules/ablate/.

The rules say when a part hurts or is useless; the fix is that part's own patch from the plan (switch it
off), which no rule file could know in advance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ceph_doctor.ablate.effects import HELPS, HURTS, AblationResult, PartEffect
from ceph_doctor.engine import diagnose
from ceph_doctor.engine.diagnosis import Diagnosis, Fix
from ceph_doctor.engine.rules import ABLATION_PACK, load_rules
from ceph_doctor.signals.base import Signal, SignalSet


@dataclass
class PartVerdict:
    effect: PartEffect
    diagnoses: list[Diagnosis]


def part_signals(effect: PartEffect, unit: str, noise_measured: bool) -> SignalSet:
    overall, table = effect.overall, effect.table
    worst = table["effect"][effect.hurt].max() if effect.hurt else table["effect"].max()
    share = overall["effect"] / overall["error_without"] if overall["error_without"] > 0 else np.nan
    values = [
        Signal("part.name", effect.part),
        Signal("part.unit", unit),
        Signal("part.effect", float(overall["effect"]), unit, description="mean radial error with the part − without"),
        Signal("part.effect_share", float(share), "change"),
        Signal("part.noise", float(overall["band"]), unit, description="the seed-noise band of that difference"),
        Signal("part.noise_measured", bool(noise_measured)),
        Signal("part.hurts_overall", overall["verdict"] == HURTS),
        Signal("part.helps_overall", overall["verdict"] == HELPS),
        Signal("part.hurt", effect.hurt),
        Signal("part.hurt_count", len(effect.hurt), "landmarks"),
        Signal("part.helped_count", len(effect.helped), "landmarks"),
        Signal("part.worst_effect", float(worst), unit),
        Signal("part.landmark_count", len(table), "landmarks"),
        Signal("part.time_cost", float(effect.cost.relative), "change", description="extra time per epoch with the part"),
        Signal("part.costs_time", bool(effect.cost.costs_time)),
    ]
    return SignalSet(values={signal.name: signal for signal in values})


def judge(result: AblationResult, rule_dirs=()) -> list[PartVerdict]:
    rules = load_rules(list(rule_dirs), pack=ABLATION_PACK)
    verdicts = []
    for effect in result.effects:
        diagnoses, _ = diagnose(part_signals(effect, result.unit, result.noise.measured), rules)
        for diagnosis in diagnoses:
            diagnosis.fixes = [Fix(key, "set", value, f"switch {effect.part} off ({effect.description})")
                               for key, value in effect.off.items()] + diagnosis.fixes
        verdicts.append(PartVerdict(effect, diagnoses))
    return verdicts
