"""Which part is at fault: train the pipeline with and without each part, and judge each part's effect.

    outcome = run_ablation(config, Path("ablations/mine"), parts=["augment.flip", "model.refine"], seeds=2)
    outcome.verdicts  # each part's effect per landmark, against seed noise, and its diagnoses

Stages, one module each: `parts` (what a part is and how it is switched off), `plan` (the trainings
and where each one lives), `launch` (train what is not finished: here, as local processes, or via
submitit), `effects` (each part's effect against seed noise), `verdict` (the rules of rules/ablate/),
`report` (render). This module strings them together and computes nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ceph_doctor.ablate.effects import AblationResult, measure
from ceph_doctor.ablate.launch import Launched, Progress, launch
from ceph_doctor.ablate.parts import Part, choose_parts
from ceph_doctor.ablate.plan import PLAN_FILE, Plan, make_plan, read_plan, write_plan
from ceph_doctor.ablate.verdict import PartVerdict, judge

__all__ = ["Outcome", "collect", "plan_ablation", "run_ablation"]


@dataclass
class Outcome:
    plan: Plan
    result: AblationResult
    verdicts: list[PartVerdict]
    launched: Launched = field(default_factory=Launched)


def plan_ablation(config: dict, folder: Path, parts: Iterable[str] | None = None, extra_parts: Iterable[Part] = (),
                  mode: str = "leave-one-out", seeds: int = 2, threads: int | None = None, jobs: int = 1) -> Plan:
    """The plan, written to `folder` (or the same plan found there: a resumed ablation)."""
    folder = Path(folder)
    chosen, notes = choose_parts(config, None if parts is None else list(parts), list(extra_parts))
    if threads is None and (folder / PLAN_FILE).is_file():
        threads = read_plan(folder).threads  # resumed with another --jobs: the plan's thread count stands
    plan = make_plan(folder, config, chosen, mode, seeds, threads, jobs)
    write_plan(plan)
    plan.notes = notes
    return plan


def run_ablation(config: dict, folder: Path, parts: Iterable[str] | None = None, extra_parts: Iterable[Part] = (),
                 mode: str = "leave-one-out", seeds: int = 2, jobs: int = 1, launcher: str = "local",
                 threads: int | None = None, progress: Progress | None = None, rule_dirs=(),
                 submitit_cluster: str | None = None, submitit_parameters: dict | None = None) -> Outcome:
    plan = plan_ablation(config, folder, parts, extra_parts, mode, seeds, threads, jobs)
    launched = launch(plan, jobs, launcher, progress, submitit_cluster, submitit_parameters)
    outcome = collect(plan.folder, rule_dirs, plan)
    outcome.launched = launched
    outcome.result.notes[:0] = plan.notes
    return outcome


def collect(folder: Path, rule_dirs=(), plan: Plan | None = None) -> Outcome:
    """Judge what has finished under an ablation folder, whoever trained it."""
    plan = plan or read_plan(Path(folder))
    result = measure(plan)
    return Outcome(plan, result, judge(result, rule_dirs))
