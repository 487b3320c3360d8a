"""The numpy columns the judging reads (`store/columns.py`) give what pandas gives on the same rows: grouped means,
variances, counts and medians, first-appearance order, and a run's predictions as `pandas.read_parquet` reads them."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from conftest import TINY
from hypothesis import strategies as st

from ceph_doctor.config import load_config
from ceph_doctor.store import load_run
from ceph_doctor.store.columns import PredictionTable, factorize, grid, mean_per, median_per
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

KEYS = st.sampled_from(["Sella", "Nasion", "Gonion", "point-10", "point-2"])
VALUES = st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.just(float("nan")), st.just(1.25))
ROWS = st.lists(st.tuples(st.integers(1, 4), KEYS, VALUES), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(ROWS)
def test_a_grid_is_pandas_grouped_mean_var_and_count(rows):
    frame = pd.DataFrame(rows, columns=["epoch", "landmark", "value"])
    cells = grid(frame["epoch"].to_numpy(), frame["landmark"].to_numpy(dtype=object), frame["value"].to_numpy())
    grouped = frame.groupby(["epoch", "landmark"], sort=False)["value"]
    for how, ours in (("mean", cells.mean), ("var", cells.var), ("count", cells.count)):
        theirs = getattr(grouped, how)().unstack("landmark").sort_index()
        assert list(theirs.columns) == list(cells.columns)  # landmarks in their first appearance, as unstack keeps
        assert list(theirs.index) == list(cells.rows)
        expected = theirs.to_numpy(float)
        if how == "count":  # a cell no row reached is NaN in pandas' table, 0 in ours
            expected = np.nan_to_num(expected)
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_equal_values_spread_exactly_zero():
    """A collapsed landmark predicted at one point on every image: its spread is 0, not the rounding of a mean
    (1e-15 over 1e-15 would read as a normal spread ratio)."""
    values = np.full(12, 56.3)
    assert grid(np.ones(12), np.zeros(12), values).var[0, 0] == 0.0


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_means_medians_and_factorize_agree_with_pandas(rows):
    frame = pd.DataFrame(rows, columns=["epoch", "landmark", "value"])
    keys, medians = median_per(frame["epoch"].to_numpy(), frame["value"].to_numpy())
    expected = frame.groupby("epoch")["value"].median()
    assert list(keys) == list(expected.index)
    np.testing.assert_allclose(medians, expected.to_numpy(float), equal_nan=True)
    _, means = mean_per(frame["epoch"].to_numpy(), frame["value"].to_numpy())
    np.testing.assert_allclose(means, frame.groupby("epoch")["value"].mean().to_numpy(float), equal_nan=True)
    codes, uniques = factorize(frame["landmark"].to_numpy(dtype=object), sort=False)
    their_codes, their_uniques = pd.factorize(frame["landmark"], sort=False)
    assert list(uniques) == list(their_uniques) and list(codes) == list(their_codes)


def test_a_run_store_reads_as_pandas_reads_it(tmp_path):
    """Every column of every prediction file, in the store's order, equal to pandas' reading of the same files."""
    run_dir = tmp_path / "run"
    Trainer(load_config(None, TINY), run_dir, hooks=[Recorder(run_dir)]).fit()
    table = load_run(run_dir).prediction_table
    expected = pd.read_parquet(run_dir / "predictions").sort_values(
        ["epoch", "decode", "split", "image_id", "landmark_index"], ignore_index=True)
    assert len(table) == len(expected) > 0
    for name in expected.columns:
        ours, theirs = table[name], expected[name]
        if theirs.dtype.kind in "iuf":
            np.testing.assert_array_equal(ours, theirs.to_numpy(), err_msg=name)
        else:
            assert list(ours) == list(theirs), name
    pd.testing.assert_frame_equal(table.frame(), expected, check_dtype=False)


@pytest.mark.parametrize("column", [[1.5, None, 3.0], [1, None, 3]])
def test_a_number_column_with_nulls_reads_nan_where_they_are(column):
    table = PredictionTable.from_arrow(pa.table({"peak": column}))
    np.testing.assert_array_equal(table["peak"], np.array([column[0], np.nan, column[2]], float))
