"""Failure scenarios: configs that make a fault really happen, and the ids it must produce.

A scenario file (examples/scenarios/*.yaml) is an ordinary training config
plus a `scenario:` section, which `ceph-doctor train --config` ignores:

    scenario:
      expect: [overfitting, missed-early-stop]   # ids the diagnosis must produce
      description: one sentence on the fault
      pretrain: {data.landmarks: [...]}          # optional first run; its best checkpoint
                                                 # becomes model.pretrained of the main run
      test_size: {train.max_epochs: 6, ...}      # overrides that shrink it for the test suite
      parts: [augment.flip, ...]                 # an ablation scenario (examples/ablations): the parts
      hurts: augment.flip                        # ablated, and the one that must be found hurting
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ceph_doctor.config import load_config
from ceph_doctor.errors import ConfigError

SCENARIO_FOLDER = Path(__file__).resolve().parent.parent / "examples" / "scenarios"
ABLATION_FOLDER = SCENARIO_FOLDER.parent / "ablations"


@dataclass
class Scenario:
    name: str
    path: Path
    expect: list[str]
    description: str
    pretrain: dict = field(default_factory=dict)
    test_size: dict = field(default_factory=dict)
    parts: list[str] | None = None
    hurts: str | None = None

    def config(self, size: str = "full", extra: dict | None = None) -> dict:
        overrides = {**(self.test_size if size == "test" else {}), **(extra or {})}
        return load_config(self.path, [f"{key}={_yaml(value)}" for key, value in overrides.items()])


def _yaml(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    meta = (yaml.safe_load(path.read_text()) or {}).get("scenario")
    if not isinstance(meta, dict) or "expect" not in meta:
        raise ConfigError(f"{path}: no scenario section with an `expect` list")
    return Scenario(
        name=path.stem,
        path=path,
        expect=list(meta["expect"]),
        description=str(meta.get("description", "")),
        pretrain=dict(meta.get("pretrain") or {}),
        test_size=dict(meta.get("test_size") or {}),
        parts=list(meta["parts"]) if meta.get("parts") else None,
        hurts=meta.get("hurts"),
    )


def all_scenarios(folder: Path = SCENARIO_FOLDER) -> list[Scenario]:
    return [load_scenario(path) for path in sorted(folder.glob("*.yaml"))]


def run_scenario(scenario: Scenario, out: Path, size: str = "full", hooks=(), config: dict | None = None) -> Path:
    """Train the scenario (its pretraining stage first, if any); return the run directory."""
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.live_doctor import DoctorHook
    from ceph_doctor.train.recorder import Recorder

    for stale in (out / scenario.name, out / f"{scenario.name}-pretrain"):
        shutil.rmtree(stale, ignore_errors=True)  # a scenario run always starts from nothing
    extra = {}
    if scenario.pretrain:
        pretrain_dir = out / f"{scenario.name}-pretrain"
        pretrain_config = scenario.config(size, {**scenario.pretrain, "model.unfreeze_after": None})
        Trainer(pretrain_config, pretrain_dir, hooks=[Recorder(pretrain_dir)]).fit()
        extra["model.pretrained"] = str(pretrain_dir / "checkpoints" / "best.pth")
    config = config if config is not None else scenario.config(size, extra)
    run_dir = out / scenario.name
    Trainer(config, run_dir, hooks=[Recorder(run_dir), DoctorHook(), *hooks]).fit()
    return run_dir
