"""Each text parser on arbitrary and half-valid input: it reads what it can and never raises."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceph_doctor.importers import csvlog, discover, mmengine, textlog
from ceph_doctor.importers.names import NameMap
from ceph_doctor.importers.predictions import prediction_frame

FRAGMENTS = st.sampled_from([
    "Epoch 3", "epoch: 7", "[Epoch 2/60]", "pred=(113.00,  61.00)", "gt=(126.56, 102.67)", "error=43.82",
    "pred=(nan, inf)", "gt=(1e400, -0)", "img 4", "lm Sella", "image=a.png", "train_loss: 0.5", "val_loss=nan",
    "epoch,step,loss", "1,2,3", ",,", "\"a,b\"", "{\"step\": 1, \"loss\": 2, \"epoch\": 1}", "{\"step\": \"x\"}",
    "{\"PCK\": 0.5, \"step\": 2}", "{", "[1, 2]", "null", "Epoch(train) [1][2/4]  lr: 1.0e-02  loss: 0.3",
    "Epoch(val) [1][4/4]  PCK: 0.8  EPE: nan", "Iter(train) [ 5/10]  loss: inf", " - mmengine - INFO - ",
    "\t", ";", "=", ":", "(", ")", "\x00", "é", "-1e-5", "99999999999999999999999", "\r", "kpt 3:", "Sella:",
    "Epoch 3:  45%|████▌     | 5/11 [00:00<00:00, 8.75it/s, v_num=0, train_loss_step=173.0]", "- val_loss: 0.6",
    "Epoch [3/100] Train Loss: 0.1234 Val Loss: 0.2345 Val MRE: 3.21 mm", "21.8 M    Trainable params",
    "{\"epoch\": 3, \"pred\": [[1, 2]], \"gt\": [[3, 4]]}", "{\"mode\": \"val\", \"epoch\": 1, \"mAP\": 0.5}",
])
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=25).map(" ".join),
    st.lists(st.lists(FRAGMENTS, max_size=5).map("  ".join), max_size=15).map("\n".join),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def with_file(name: str, text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(text.encode("utf-8", "replace"))
        yield path


@FUZZ
@given(TEXT)
def test_text_parser_never_raises(text):
    with with_file("train.log", text) as path:
        read = textlog.read([path], NameMap())
    for part in read if isinstance(read, list) else [read]:
        if part.predictions is not None:
            assert list(part.predictions.columns) == list(prediction_frame([]).columns)
        assert all(isinstance(note, str) for note in part.notes)


@FUZZ
@given(TEXT)
def test_csv_parser_never_raises(text):
    with with_file("metrics.csv", text) as path:
        if csvlog.sniff(path, path.read_bytes()):
            table = csvlog.read([path], NameMap()).scalars.table
            frame = table.frame
            assert list(frame.columns) == ["step", "epoch", "tag", "value", "wall_time"]
            assert len(frame) == sum(len(table.series(tag)) for tag in table.tags)


@FUZZ
@given(TEXT)
def test_mmengine_parsers_never_raise(text):
    with with_file("scalars.json", text) as path:
        rows, bad, _ = mmengine.read_json(path)
    assert bad >= 0 and all(len(row) == 5 for row in rows)
    with with_file("run.log", text) as path:
        assert all(len(row) == 5 for row in mmengine.read_log(path))


@FUZZ
@given(TEXT, st.sampled_from(["a.log", "b.txt", "c.csv", "d.json", "events.out.tfevents.1.host", "e"]))
def test_discover_never_raises(text, name):
    with with_file(name, text) as path:
        runs, skipped = discover(path.parent)
    assert all(run.source in ("tensorboard", "mmengine", "hf", "mlflow", "csv", "text") for run in runs)
    assert all(note.reason for note in skipped)
