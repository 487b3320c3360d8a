"""The fast paths that `analyze` takes over many runs agree with their plain definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ceph_doctor.importers import csvlog
from ceph_doctor.signals.noise import count_spikes
from ceph_doctor.signals.series import by_epoch, relative_slope, train_loss_by_epoch
from ceph_doctor.store.reader import Run
from ceph_doctor.store.scalars import ScalarTable

FAST = settings(max_examples=150, deadline=None)
LOSSES = arrays(np.float64, st.integers(0, 90), elements=st.floats(1e-4, 1e4, allow_nan=False))


@FAST
@given(LOSSES)
def test_spike_count_is_the_rolling_median_definition(losses):
    logs = pd.Series(np.log(losses))
    window = logs.rolling(20, min_periods=5)
    median = window.median().shift(1)
    spread = 1.4826 * window.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True).shift(1)
    margin = np.maximum(np.log(5), 5 * spread)
    assert count_spikes(losses) == int((logs - median > margin).sum())


CELL = st.one_of(
    st.just(""), st.just("nan"), st.just("inf"), st.just("-inf"),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr), st.integers(-1000, 1000).map(str),
)


@FAST
@given(st.lists(st.tuples(st.integers(0, 10**6), CELL, CELL), min_size=1, max_size=30))
def test_csv_fast_reader_reads_what_the_row_reader_reads(rows):
    data = ("step,loss,mre\n" + "".join(f"{step},{a},{b}\n" for step, a, b in rows)).encode()
    fast = csvlog.parse_fast(data, 3, ",")
    plain, notes = csvlog.parse_rows(data.decode(), 3, ",")
    assert fast is not None and notes == [] and fast.rows == plain.rows == len(rows)
    for column in range(3):
        fast_values, fast_logged, fast_bad = fast.numbers(column)
        plain_values, plain_logged, plain_bad = plain.numbers(column)
        assert np.array_equal(fast_logged, plain_logged) and fast_bad == plain_bad == 0
        assert np.array_equal(fast_values[fast_logged], plain_values[plain_logged], equal_nan=True)


def test_csv_reader_falls_back_row_by_row_for_ragged_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,loss\n0,1,0.5\n0,2\n1,3,0.25,extra\n")
    part = csvlog.read([path], csvlog.NameMap())
    assert part.scalars.table.series("train/loss").value.tolist() == [0.5, 0.25]
    assert any("different number of fields" in note for note in part.notes)


def frame_run(frame: pd.DataFrame) -> Run:
    return Run("run", {}, frame.assign(wall_time=np.nan))


SCALAR_ROWS = st.lists(
    st.tuples(st.integers(1, 40), st.sampled_from(["train/loss", "val/loss"]),
              st.one_of(st.floats(-10, 10, allow_nan=False), st.just(np.nan), st.just(np.inf))),
    min_size=1, max_size=60,
)


@FAST
@given(SCALAR_ROWS)
def test_curves_are_pandas_groupbys(rows):
    frame = pd.DataFrame(rows, columns=["step", "tag", "value"]).sort_values("step", kind="stable")
    frame["epoch"] = (frame["step"] - 1) // 10 + 1
    frame["tag"] = frame["tag"].astype("string")
    run = frame_run(frame)
    loss = frame[frame["tag"] == "train/loss"]
    if len(loss):
        expected = loss.groupby("epoch")["value"].mean()
        curve = train_loss_by_epoch(run)
        assert curve.at.tolist() == expected.index.tolist()
        assert np.allclose(curve.values, expected.to_numpy(), equal_nan=True)
    val = frame[frame["tag"] == "val/loss"]
    curve = by_epoch(run, "val/loss")
    last = val.groupby("epoch")["value"].agg(lambda values: values.iloc[-1])
    assert curve.at.tolist() == last.index.tolist()
    assert np.array_equal(curve.values, last.to_numpy(float), equal_nan=True)


def test_frame_and_series_shapes_hold_the_same_rows():
    by_tag = ScalarTable(frame=pd.DataFrame({
        "step": [3, 1, 2, 2], "epoch": [1, 1, 1, 1], "tag": pd.array(["a", "b", "a", "b"], dtype="string"),
        "value": [0.3, 0.1, 0.2, 0.25], "wall_time": np.nan,
    }))
    assert by_tag.series("a").step.tolist() == [2, 3]  # out of step order in the frame: sorted per tag
    again = ScalarTable(by_tag={tag: by_tag.series(tag) for tag in by_tag.tags})
    assert again.frame[["step", "tag", "value"]].values.tolist() == [[1, "b", 0.1], [2, "a", 0.2], [2, "b", 0.25],
                                                                     [3, "a", 0.3]]


def test_relative_slope_is_the_least_squares_slope():
    epochs = np.arange(1, 11)
    values = 5.0 - 0.2 * epochs + np.sin(epochs) * 0.05
    curve = by_epoch(frame_run(pd.DataFrame({
        "step": epochs, "epoch": epochs, "tag": pd.array(["val/loss"] * 10, dtype="string"), "value": values,
    })), "val/loss")
    assert relative_slope(curve) == pytest.approx(np.polyfit(epochs, values, 1)[0] / values.mean(), rel=1e-9)
