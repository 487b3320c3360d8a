"""`ceph-doctor ablate`: parts, the plan, effects against seed noise, launchers, resuming, the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from ceph_doctor.ablate import plan_ablation, run_ablation
from ceph_doctor.ablate.effects import HELPS, HURTS, WITHIN_NOISE, RunAnswer, part_effect, seed_noise
from ceph_doctor.ablate.parts import BUILTIN_PARTS, choose_parts, parse_part
from ceph_doctor.ablate.plan import read_plan
from ceph_doctor.ablate.report import to_json
from ceph_doctor.config import load_config
from ceph_doctor.errors import ConfigError

from conftest import TINY

ABLATION_TINY = [*TINY, "train.max_epochs=3", "data.synthetic.train_images=12"]
TWO_PARTS = ["augment.rotate", "augment.brightness"]


def cli(*arguments: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceph_doctor", *arguments], capture_output=True, text=True, **kwargs)


# -- parts ----------------------------------------------------------------------------------------


def test_a_users_part_keeps_list_values_whole_and_is_checked_against_the_schema():
    part = parse_part("views=eval.tta.scales=[0.9, 1.1],eval.tta.flip=false")
    assert part.name == "views" and dict(part.off) == {"eval.tta.scales": [0.9, 1.1], "eval.tta.flip": False}
    with pytest.raises(ConfigError, match="--part views.*unknown config key"):
        parse_part("views=eval.tta.scalez=[]")
    with pytest.raises(ConfigError, match="NAME=KEY=VALUE"):
        parse_part("no-patch")


def test_without_a_list_every_part_the_config_has_on_is_ablated_and_none_it_has_off():
    config = load_config(None, ["augment.flip=true", "model.loss=adaptive_wing"])
    parts, _ = choose_parts(config, None)
    names = [part.name for part in parts]
    assert {"augment.flip", "augment.rotate", "augment.brightness", "loss.wing"} <= set(names)
    assert not {"augment.braces", "model.refine", "eval.tta", "train.ema", "augment"} & set(names)
    # A chosen loss that is not a Wing loss has no Wing to remove.
    assert not BUILTIN_PARTS["loss.wing"].is_on(load_config(None, ["model.loss=coordinate_l1", "model.head=regression"]))


def test_a_part_asked_for_that_is_already_off_is_said_and_left_out():
    parts, notes = choose_parts(load_config(None, []), ["augment.flip", "augment.rotate"])
    assert [part.name for part in parts] == ["augment.rotate"]
    assert notes and "augment.flip" in notes[0] and "already off" in notes[0]
    with pytest.raises(ConfigError, match="unknown part 'augment.flop'"):
        choose_parts(load_config(None, []), ["augment.flop"])


# -- the plan -------------------------------------------------------------------------------------


def test_leave_one_out_and_add_one_in_plans(tmp_path):
    config = load_config(None, [*ABLATION_TINY, "seed=5"])
    plan = plan_ablation(config, tmp_path / "loo", TWO_PARTS, seeds=2, threads=1)
    assert [v.name for v in plan.variants] == ["full-seed5", "full-seed6", "without-augment.rotate",
                                               "without-augment.brightness"]
    assert {v.seed for v in plan.part_variants} == {5}
    for variant in plan.variants:  # one data seed for all: the seed repeats see the same images
        written = load_config(plan.config_path(variant))
        assert written["data"]["seed"] == 5 and written["train"]["threads"] == 1
    assert load_config(plan.config_path(plan.variants[2]))["augment"]["rotate_deg"] == 0

    plan = plan_ablation(config, tmp_path / "aoi", TWO_PARTS, mode="add-one-in", seeds=2, threads=1)
    baseline = load_config(plan.config_path(plan.references[0]))["augment"]
    assert baseline["rotate_deg"] == 0 and baseline["brightness"] == 0 and baseline["contrast"] == 0
    with_rotate = load_config(plan.config_path(plan.variants[2]))["augment"]
    assert plan.variants[2].name == "with-augment.rotate"
    assert with_rotate["rotate_deg"] == config["augment"]["rotate_deg"] and with_rotate["brightness"] == 0


def test_a_folder_holding_another_plan_is_refused(tmp_path):
    config = load_config(None, ABLATION_TINY)
    plan_ablation(config, tmp_path, TWO_PARTS, seeds=2, threads=1)
    plan_ablation(config, tmp_path, TWO_PARTS, seeds=2, threads=1)  # the same plan: a resumed ablation
    with pytest.raises(ConfigError, match="another plan.*seeds"):
        plan_ablation(config, tmp_path, TWO_PARTS, seeds=3, threads=1)


# -- effects against seed noise --------------------------------------------------------------------


def _answer(name: str, errors: np.ndarray) -> RunAnswer:
    frame = pd.DataFrame(errors, index=[f"img{i}" for i in range(len(errors))],
                         columns=[f"L{k}" for k in range(errors.shape[1])])
    return RunAnswer(name, frame, "mm", 10, "heatmap", np.full(5, 1.0), 100.0)


def test_an_effect_counts_only_beyond_seed_noise_and_image_by_image():
    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 3.0, (24, 6))
    # Two seeds of the reference: each landmark's level moves by a few per cent with the seed.
    seed_shift = 1.0 + rng.normal(0.0, 0.05, (2, 6))
    references = [_answer(f"full-seed{s}", base * seed_shift[s] + rng.normal(0, 0.05, base.shape)) for s in range(2)]
    noise = seed_noise(references)
    assert 0.01 < noise.relative_sd < 0.15
    variant = base.copy()
    variant[:, 0] *= 0.5    # without the part, L0 halves: the part hurts it
    variant[:, 1] *= 1.03   # L1 moves by less than the seeds move it
    variant[:, 2] *= 1.6    # without the part L2 is much worse: the part helps it
    effect = part_effect({"name": "p", "off": {}}, _answer("without-p", variant), references, noise, "leave-one-out")
    verdicts = effect.table["verdict"]
    assert verdicts["L0"] == HURTS and verdicts["L2"] == HELPS and verdicts["L1"] == WITHIN_NOISE
    assert effect.hurt == ["L0"] and effect.helped == ["L2"]


def test_one_seed_measures_no_noise_and_finds_nothing():
    rng = np.random.default_rng(1)
    base = rng.uniform(1.0, 3.0, (24, 4))
    noise = seed_noise([_answer("full-seed0", base)])
    assert not noise.measured
    effect = part_effect({"name": "p", "off": {}}, _answer("without-p", base * 0.2), [_answer("full-seed0", base)],
                         noise, "leave-one-out")
    assert effect.hurt == [] and effect.overall["verdict"] == "seed noise not measured"


# -- launchers, resuming ---------------------------------------------------------------------------


def _table(outcome) -> list:
    """The effects, as the report prints them: what must not depend on how the variants were trained."""
    return [(part["name"], part["effect"], part["band"], [landmark["effect"] for landmark in part["landmarks"]])
            for part in to_json(outcome.result, outcome.verdicts)["parts"]]


def test_local_processes_and_submitit_give_the_table_of_sequential_runs(tmp_path):
    config = load_config(None, ABLATION_TINY)
    sequential = run_ablation(config, tmp_path / "sequential", TWO_PARTS, seeds=2, threads=1)
    assert sorted(sequential.launched.trained) == sorted(v.name for v in sequential.plan.variants)
    parallel = run_ablation(config, tmp_path / "jobs", TWO_PARTS, seeds=2, threads=1, jobs=2)
    assert not parallel.launched.failed
    submitted = run_ablation(config, tmp_path / "submitit", TWO_PARTS, seeds=2, threads=1, launcher="submitit",
                             submitit_cluster="local", submitit_parameters={"timeout_min": 10})
    assert not submitted.launched.failed
    assert _table(parallel) == _table(sequential) == _table(submitted)
    assert len(_table(sequential)) == 2


def test_a_killed_ablation_trains_only_what_is_missing(tmp_path):
    folder = tmp_path / "killed"
    arguments = ["ablate", "--out", str(folder), "--parts", ",".join(TWO_PARTS), "--threads", "1",
                 *(item for setting in ABLATION_TINY for item in ("--set", setting))]
    process = subprocess.Popen([sys.executable, "-m", "ceph_doctor", *arguments], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    first = folder / "full-seed0" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (first.is_file() and json.loads(first.read_text())["status"] == "completed"):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    plan = read_plan(folder)
    states = {v.name: plan.state(v) for v in plan.variants}
    assert states["full-seed0"] == "finished" and list(states.values()).count("finished") < len(states)
    finished_before = {name for name, state in states.items() if state == "finished"}
    stamp = first.stat().st_mtime_ns

    printed = cli(*arguments, "--print-commands")  # what a scheduler would be given: only what is missing
    assert printed.returncode == 0
    assert len(printed.stdout.splitlines()) == len(states) - len(finished_before)
    assert all(f"--name {name}" not in printed.stdout for name in finished_before)

    # Resumed with another --jobs and no --threads: the plan's thread count stands, so it is the same plan.
    again = run_ablation(load_config(None, ABLATION_TINY), folder, TWO_PARTS, seeds=2, jobs=2)
    assert set(again.launched.trained) == set(states) - finished_before
    assert first.stat().st_mtime_ns == stamp
    assert all(plan.state(v) == "finished" for v in plan.variants) and not again.result.missing


# -- bad input --------------------------------------------------------------------------------------


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = cli("ablate", "--collect", str(tmp_path))
    assert result.returncode == 2 and "not an ablation folder" in result.stderr
    result = cli("ablate", "--set", "augment.rotate_deg=7", "--part", "broken", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "NAME=KEY=VALUE" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "ablation.json").write_text("{not json")
    result = cli("ablate", "--collect", str(tmp_path))
    assert result.returncode == 2 and "ablation.json" in result.stderr
