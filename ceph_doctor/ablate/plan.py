"""An ablation's plan: which trainings it takes, each an ordinary run under one folder, and which are done.

    ABLATION/ablation.json          the plan: mode, parts, seeds, threads, every variant and its patch
    ABLATION/configs/NAME.yaml      each variant's whole config, for `ceph-doctor train --config`
    ABLATION/NAME/                  each variant's run directory, written by whoever trains it

Leave-one-out compares the full config (the reference, trained once per seed) with one variant per part
switched off. Add-one-in starts from a baseline with every part off (the reference, once per seed) and
switches one part on per variant. Every training sees the same data (`data.seed` is fixed to the full
config's), and a variant trains with the reference's first seed, so a variant and the first reference
run differ only by the part. The repeats of the reference, one per further seed, measure seed noise.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ceph_doctor.ablate.parts import Part
from ceph_doctor.atomic import atomic_write_bytes
from ceph_doctor.config import patched
from ceph_doctor.data.sources import data_seed
from ceph_doctor.errors import ConfigError

PLAN_FILE = "ablation.json"
PLAN_SCHEMA = 1
MODES = ("leave-one-out", "add-one-in")
FINISHED = ("completed", "early_stopped", "diverged")  # a diverged variant is an answer too


@dataclass(frozen=True)
class Variant:
    name: str  # its run directory's name
    role: str  # "reference" (the full config, or add-one-in's baseline) | "part"
    seed: int
    patch: dict[str, Any]  # applied to the full config
    part: str | None = None


@dataclass
class Plan:
    folder: Path
    mode: str
    parts: list[dict[str, Any]]  # name, description, off (the patch that switches it off)
    seeds: list[int]
    threads: int
    config: dict  # the full config, data seed fixed
    variants: list[Variant]
    notes: list[str] = field(default_factory=list)

    @property
    def references(self) -> list[Variant]:
        return [variant for variant in self.variants if variant.role == "reference"]

    @property
    def part_variants(self) -> list[Variant]:
        return [variant for variant in self.variants if variant.role == "part"]

    def run_dir(self, variant: Variant) -> Path:
        return self.folder / variant.name

    def config_path(self, variant: Variant) -> Path:
        return self.folder / "configs" / f"{variant.name}.yaml"

    def config_of(self, variant: Variant) -> dict:
        config = patched(self.config, variant.patch)
        config["seed"] = variant.seed
        config["train"]["threads"] = self.threads
        return config

    def state(self, variant: Variant) -> str:
        """"finished", "partial" (a run was started and did not end: it resumes) or "missing"."""
        manifest = self.run_dir(variant) / "manifest.json"
        if not manifest.is_file():
            return "missing"
        try:
            status = json.loads(manifest.read_text()).get("status")
        except (OSError, ValueError):
            return "partial"
        return "finished" if status in FINISHED else "partial"

    def command(self, variant: Variant) -> str:
        """The one `ceph-doctor train` line that trains this variant, for any scheduler."""
        return (f"ceph-doctor train --config {self.config_path(variant)} --out {self.folder} "
                f"--name {variant.name}")

    def describe(self) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, "mode": self.mode, "parts": self.parts, "seeds": self.seeds,
                "threads": self.threads, "config": self.config, "variants": [asdict(v) for v in self.variants]}


def make_plan(folder: Path, config: dict, parts: list[Part], mode: str, seeds: int, threads: int | None = None,
              jobs: int = 1) -> Plan:
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if seeds < 1:
        raise ConfigError("--seeds: at least 1 (2 or more to measure seed noise)")
    config = patched(config, {"data.seed": data_seed(config)})  # every variant sees the same images
    first = config["seed"]
    seed_list = [first + i for i in range(seeds)]
    if threads is None:
        # Fixed in the plan: a training's numbers depend on its thread count, so a variant trained later,
        # elsewhere or with another --jobs must use the count the others used.
        threads = config["train"].get("threads") or max(1, (os.cpu_count() or 1) // max(jobs, 1))
    baseline: dict[str, Any] = {}
    if mode == "add-one-in":
        for part in parts:
            baseline.update(part.switched_off())
    reference_name = "full" if mode == "leave-one-out" else "baseline"
    variants = [Variant(f"{reference_name}-seed{seed}", "reference", seed, dict(baseline)) for seed in seed_list]
    for part in parts:
        if mode == "leave-one-out":
            variants.append(Variant(f"without-{part.name}", "part", first, part.switched_off(), part.name))
        else:
            variants.append(Variant(f"with-{part.name}", "part", first, {**baseline, **part.as_found_in(config)},
                                    part.name))
    described = [{"name": part.name, "description": part.description, "off": part.switched_off()} for part in parts]
    plan = Plan(folder, mode, described, seed_list, int(threads), config, variants)
    for variant in plan.variants:
        plan.config_of(variant)  # a patch the schema refuses is said now, not after hours of training
    return plan


def write_plan(plan: Plan) -> None:
    """The plan and every variant's config, unless the folder holds this very plan already (a resumed
    ablation); a folder holding another plan is refused rather than mixed with it."""
    path = plan.folder / PLAN_FILE
    described = json.loads(json.dumps(plan.describe()))  # as it reads back: tuples are lists
    if path.is_file():
        stored = read_plan(plan.folder).describe()
        if stored != described:
            differs = [key for key in described if described[key] != stored.get(key)]
            raise ConfigError(f"{plan.folder}: holds an ablation of another plan (it differs in {', '.join(differs)}); "
                              "run it with the same arguments to resume it, or give another --out")
    plan.folder.mkdir(parents=True, exist_ok=True)
    for variant in plan.variants:
        config_path = plan.config_path(variant)
        config_path.parent.mkdir(exist_ok=True)
        text = yaml.safe_dump(plan.config_of(variant), sort_keys=False)
        atomic_write_bytes(config_path, f"# ablation variant {variant.name}: see {PLAN_FILE}\n{text}".encode())
    if not path.is_file():
        atomic_write_bytes(path, json.dumps(described, indent=1).encode())


def read_plan(folder: Path) -> Plan:
    path = folder / PLAN_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder}: not an ablation folder (no {PLAN_FILE})") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: unreadable ablation plan ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
        raise ConfigError(f"{path}: not an ablation plan of schema {PLAN_SCHEMA}")
    try:
        variants = [Variant(**variant) for variant in data["variants"]]
        return Plan(folder, data["mode"], data["parts"], data["seeds"], data["threads"], data["config"], variants)
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{path}: damaged ablation plan ({error})") from None
