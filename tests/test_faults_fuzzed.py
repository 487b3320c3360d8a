"""Fuzzed faults, in process (hypothesis): any byte damage to a real run's files is read around and reported or
refused in one line; any damage to a real checkpoint is loaded or refused in one line; any value for any config
key is taken or refused in one line. Derandomized: the same examples on every run, as every test here is
deterministic (the checkpoint fuzzer found two defects while it was not: a damaged first byte, and a damaged
central directory)."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceph_doctor.analyze import analyze_run
from ceph_doctor.config import check_together, load_config, set_value
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.engine import load_rules
from ceph_doctor.errors import ConfigError
from ceph_doctor.report import render_json

RULES = load_rules()

FUZZ = settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
DAMAGE = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["flip", "cut", "insert"])),
                  min_size=1, max_size=6)


def damaged(data: bytes, edits) -> bytes:
    data = bytearray(data)
    for where, byte, kind in edits:
        at = min(int(where * len(data)), max(len(data) - 1, 0))
        if kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = bytes([byte])
        elif data:
            data[at] = byte
    return bytes(data)


@pytest.mark.parametrize("name", ["manifest.json", "scalars.csv", "predictions"])
@FUZZ
@given(edits=DAMAGE)
def test_any_damage_to_a_run_is_read_around_or_refused_in_one_line(fault_materials, tmp_path, name, edits):
    from ceph_doctor import load_run
    from ceph_doctor.errors import UserInputError

    run = tmp_path / f"run-{uuid.uuid4().hex}"
    fault_materials.copy_run(run)
    target = run / name if name != "predictions" else sorted((run / name).glob("*.parquet"))[0]
    target.write_bytes(damaged(target.read_bytes(), edits))
    try:
        loaded = load_run(run)
    except UserInputError as error:
        assert "\n" not in str(error) and str(run) in str(error)
        return
    # Read around: then whatever was kept is judged and reported like any run.
    report = json.loads(render_json([analyze_run(loaded, RULES)]))
    assert report["runs"][0]["path"] == str(run)


@FUZZ
@given(edits=DAMAGE)
def test_any_damage_to_a_checkpoint_is_loaded_or_refused_in_one_line(fault_materials, tmp_path, edits):
    from ceph_doctor.errors import UserInputError
    from ceph_doctor.store.checkpoint import load_checkpoint

    path = tmp_path / f"{uuid.uuid4().hex}.pth"
    path.write_bytes(damaged(fault_materials.checkpoint.read_bytes(), edits))
    try:
        load_checkpoint(path)
    except UserInputError as error:
        assert "\n" not in str(error) and str(path) in str(error)


ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(key=st.sampled_from(sorted(SCHEMA)), value=ANY_VALUE)
def test_any_value_for_any_config_key_is_taken_or_refused_in_one_line(key, value):
    try:
        config = load_config(None, [])
        set_value(config, key, value, origin="fuzz")
        check_together(config, "fuzz")
    except ConfigError as error:
        assert "\n" not in str(error) and key in str(error) and len(str(error)) < 2000
