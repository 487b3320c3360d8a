"""Other tools' logs, written by the real writers, read back as Runs; detection by content; damaged files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ceph_doctor.analyze import analyze_paths, collect_runs
from ceph_doctor.errors import UserInputError
from ceph_doctor.importers import discover
from ceph_doctor.importers.names import Logged, NameMap
from ceph_doctor.store.meaning import direction
from cli_helpers import ceph_doctor


def only_run(path, names=None):
    runs, skipped = discover(path, names)
    assert len(runs) == 1, (runs, skipped)
    return runs[0], skipped


def values(run, tag):
    return run.scalars[run.scalars["tag"] == tag].sort_values("step")


# ----------------------------------------------------------------- names
def tags_of(*keys: Logged, names: NameMap | None = None) -> list[str | None]:
    tags, _, _ = (names or NameMap()).resolve(keys)
    return [tags[key] for key in keys]


@pytest.mark.parametrize("theirs, split, canonical", [
    ("loss", None, "train/loss"), ("train_loss", None, "train/loss"), ("loss_kpt", None, "train/loss/kpt"),
    ("val_loss", None, "val/loss"), ("loss", "val", "val/loss"), ("NME", "val", "val/nme"),
    ("val/mre", None, "val/mre"), ("MRE", "val", "val/MRE"), ("mre_mm", None, "val/mre_mm"),
    ("lr", None, "optim/lr"), ("lr-SGD", None, "optim/lr"), ("coords_loss", None, "train/loss/coords"),
    ("val_loss_ar", None, "val/loss_ar"), ("PCK", "val", "val/pck"), ("acc_pose", "train", "train/acc_pose"),
    ("train_loss_epoch", None, "train/loss"), ("val_acc", None, "val/acc"), ("time", "train", None),
])
def test_names_map_to_canonical_tags(theirs, split, canonical):
    assert tags_of(Logged(theirs, split)) == [canonical]


def test_names_are_decided_with_their_neighbours():
    # Keras: `accuracy` beside `val_accuracy` is the training accuracy; alone, a metric is validation's.
    assert tags_of(Logged("accuracy"), Logged("val_accuracy")) == ["train/accuracy", "val/accuracy"]
    assert tags_of(Logged("accuracy")) == ["val/accuracy"]
    # Lightning's per-step and per-epoch copies: the per-step one keeps the tag.
    assert tags_of(Logged("train_loss_step"), Logged("train_loss_epoch")) == ["train/loss", "train/loss_epoch"]
    # Only test_* logged, every epoch: read as validation.
    assert tags_of(Logged("train_loss"), Logged("test_loss"), Logged("test_acc")) == [
        "train/loss", "val/loss", "val/acc"]


def test_directions_and_user_maps():
    assert direction("val/PCK") == "max" and direction("AUC") == "max" and direction("EPE") == "min"
    user = NameMap.parse(["val/mre_mm=MRE"])
    assert tags_of(Logged("MRE"), names=user) == ["val/mre_mm"]
    assert user.declared_monitor({"val/mre_mm", "val/PCK"})["metric"] == "val/mre_mm"
    with pytest.raises(UserInputError, match="CANON=THEIRS"):
        NameMap.parse(["MRE"])


# ----------------------------------------------------------- TensorBoard
def write_summary(folder: Path, epochs: int = 3, steps_per_epoch: int = 4) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    step = 0
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            step += 1
            writer.add_scalar("loss", 1.0 / step, step)
            writer.add_scalar("lr", 0.01, step)
        writer.add_scalar("val/mre_mm", 5.0 - epoch, step)
    writer.close()


def test_summary_writer_scalars_survive(tmp_path):
    write_summary(tmp_path / "tb")
    run, _ = only_run(tmp_path / "tb")
    assert run.source == "tensorboard"
    loss = values(run, "train/loss")
    assert loss["step"].tolist() == list(range(1, 13))
    assert np.allclose(loss["value"], [1.0 / s for s in range(1, 13)])
    assert values(run, "val/mre_mm")["epoch"].tolist() == [1, 2, 3]
    assert values(run, "val/mre_mm")["value"].tolist() == [5.0, 4.0, 3.0]
    assert loss.groupby("epoch").size().tolist() == [4, 4, 4]  # epochs from the validation steps
    assert np.allclose(values(run, "optim/lr")["value"], 0.01)


def test_truncated_event_file_keeps_the_records_before_the_cut(tmp_path):
    write_summary(tmp_path / "tb")
    event = next((tmp_path / "tb").glob("*tfevents*"))
    data = event.read_bytes()
    event.write_bytes(data[: len(data) - 30])  # cut inside the last record
    run, _ = only_run(tmp_path / "tb")
    assert 0 < len(values(run, "train/loss")) <= 12
    assert values(run, "train/loss")["value"].iloc[0] == 1.0


def test_a_ceph_doctor_runs_own_event_files_are_not_a_second_run(tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    write_summary(run_dir / "tensorboard")
    (run_dir / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    assert discover(tmp_path / "runs")[0] == []


# -------------------------------------------------------------- Lightning
class Points(Dataset):
    def __init__(self, count, seed):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(count, 4)).astype(np.float32)
        self.y = (self.x @ rng.normal(size=(4, 2))).astype(np.float32)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


def test_lightning_csv_and_tensorboard_loggers(tmp_path):
    lightning = pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    class Tiny(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)

        def training_step(self, batch, batch_idx):
            loss = nn.functional.mse_loss(self.layer(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    trainer = lightning.Trainer(
        max_epochs=2, accelerator="cpu", log_every_n_steps=1, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False,
        logger=[CSVLogger(str(tmp_path / "csv")), TensorBoardLogger(str(tmp_path / "tb"))],
    )
    trainer.fit(Tiny(), DataLoader(Points(8, 0), batch_size=2), DataLoader(Points(4, 1), batch_size=2))

    csv_run, _ = only_run(tmp_path / "csv")
    tb_run, _ = only_run(tmp_path / "tb")
    assert (csv_run.source, tb_run.source) == ("csv", "tensorboard")
    for run in (csv_run, tb_run):
        assert values(run, "val/loss")["epoch"].tolist() == [1, 2]
        assert len(values(run, "train/loss")) == 8
        assert values(run, "train/loss")["epoch"].tolist() == [1] * 4 + [2] * 4
    assert np.allclose(values(csv_run, "train/loss")["value"], values(tb_run, "train/loss")["value"], rtol=1e-6)
    assert np.allclose(values(csv_run, "val/loss")["value"], values(tb_run, "val/loss")["value"], rtol=1e-6)


# --------------------------------------------------------------- MMEngine
def run_mmengine(work_dir: Path) -> Path:
    pytest.importorskip("mmengine")
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Samples(Points):
        def __getitem__(self, index):
            return {"inputs": torch.from_numpy(self.x[index]), "data_samples": torch.from_numpy(self.y[index])}

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)

        def forward(self, inputs, data_samples=None, mode="tensor"):
            pred, true = self.layer(torch.stack(inputs)), torch.stack(data_samples)
            if mode == "loss":
                return {"loss_kpt": nn.functional.mse_loss(pred, true), "acc_pose": torch.tensor(0.5)}
            return list(zip(pred.detach(), true))

    class PCK(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.extend(float((p - t).norm()) for p, t in data_samples)

        def compute_metrics(self, results):
            return {"PCK": 1 / (1 + float(np.mean(results))), "EPE": float(np.mean(results))}

    def loader(dataset):
        return {"dataset": dataset, "sampler": {"type": "DefaultSampler", "shuffle": False}, "batch_size": 2}

    Runner(model=Model(), work_dir=str(work_dir), train_dataloader=loader(Samples(8, 0)),
           val_dataloader=loader(Samples(4, 1)), val_evaluator={"type": PCK},
           optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.01}},
           train_cfg={"by_epoch": True, "max_epochs": 2, "val_interval": 1}, val_cfg={},
           default_hooks={"checkpoint": None, "logger": {"type": "LoggerHook", "interval": 1}},
           log_level="INFO").train()  # INFO: the .log then holds the Epoch(...) lines
    return next(path.parent.parent for path in work_dir.rglob("scalars.json"))


def test_mmengine_work_dir_json_and_log_agree(tmp_path):
    stamp = run_mmengine(tmp_path / "work")
    (stamp / "vis_data" / "config.py").write_text(
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.0005))\n"
        "train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=5)\n"
        "codec = dict(type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)\n"
    )
    run, skipped = only_run(tmp_path / "work")
    assert run.source == "mmengine" and run.path == stamp
    assert (run.monitor.metric, run.monitor.mode) == ("val/epe", "min")  # an error in px before PCK
    assert run.config == {"optimizer": {"lr": 0.0005}, "train": {"max_epochs": 60, "val_interval": 5},
                          "codec": {"sigma": 2}, "data": {"input_size": 256}}
    assert values(run, "train/loss")["step"].tolist() == list(range(1, 9))
    assert values(run, "val/pck")["epoch"].tolist() == [1, 2]
    assert {"optim/lr", "train/acc_pose", "val/epe"} <= set(run.scalars["tag"])
    assert sum("same numbers as scalars.json" in note.reason for note in skipped) == 2

    from_json = values(run, "val/epe")["value"].to_numpy()
    for json_file in (stamp / "vis_data").glob("*.json"):
        json_file.unlink()
    log_run, _ = only_run(tmp_path / "work")
    assert log_run.manifest["files"] == [str(next(stamp.glob("*.log")))]
    assert np.allclose(values(log_run, "val/epe")["value"], from_json, atol=1e-4)
    assert values(log_run, "train/loss")["step"].tolist() == list(range(1, 9))


def test_mmengine_json_with_a_broken_line(tmp_path):
    lines = [json.dumps({"lr": 0.01, "loss": 1.0 / step, "epoch": 1 + (step > 2), "iter": step, "step": step})
             for step in range(1, 5)]
    lines.insert(2, json.dumps({"PCK": 0.4, "step": 1}))
    lines.append(json.dumps({"PCK": 0.5, "step": 2})[:9])  # torn mid-write
    (tmp_path / "vis_data").mkdir()
    (tmp_path / "vis_data" / "scalars.json").write_text("\n".join(lines))
    run, _ = only_run(tmp_path)
    assert values(run, "train/loss")["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25]
    assert values(run, "val/pck")["value"].tolist() == [0.4]
    assert any("skipped 1 unreadable line" in note for note in run.notes)


# --------------------------------------------------------------------- CSV
def test_plain_csv_with_damage_reads_what_is_valid(tmp_path):
    (tmp_path / "history.txt").write_text(  # a CSV, whatever its name says
        "epoch,train_loss,val_loss,MRE\n0,1.0,2.0,9.0\n1,0.5,nan,8.0\n2,0.25,oops,7.0\n3,0.2,1.5\n4,0.1,1.4,6"
    )
    run, _ = only_run(tmp_path, NameMap.parse(["val/mre_mm=MRE"]))
    assert run.source == "csv"
    assert values(run, "train/loss")["epoch"].tolist() == [1, 2, 3, 4]  # 0-based epochs shifted; torn line dropped
    val = values(run, "val/loss")["value"].tolist()
    assert val[0] == 2.0 and math.isnan(val[1]) and val[2:] == [1.5]
    assert values(run, "val/mre_mm")["value"].tolist() == [9.0, 8.0, 7.0]
    assert (run.monitor.metric, run.monitor.mode) == ("val/mre_mm", "min")
    notes = " ".join(run.notes)
    assert "cut off" in notes and "not numbers" in notes and "different number of fields" in notes
    assert "non-finite" in notes


# -------------------------------------------------------------------- text
def write_collapse_log(path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for epoch in (2, 10, 20, 30, 40, 50, 60):
        lines += [f"Epoch {epoch}", f"train_loss: {1 / epoch:.4f}  val_loss: {0.5 + epoch / 100:.4f}"]
        for image in range(6):
            for k in range(5):
                tx, ty = 100 + 40 * k + rng.normal(0, 10), 80 + 30 * k + rng.normal(0, 10)
                if epoch >= 30:  # every image, every landmark: near one point
                    px, py = 113 + rng.normal(0, 0.5), 61 + rng.normal(0, 0.5)
                else:
                    px, py = tx + rng.normal(0, 3), ty + rng.normal(0, 3)
                error = np.hypot(px - tx, py - ty)
                lines.append(f"img {image} lm {k} pred=({px:.2f},  {py:.2f}) gt=({tx:.2f}, {ty:.2f}) error={error:.2f}")
    path.write_text("\n".join(lines) + "\n")


def test_text_log_collapse_is_found_by_analyze(tmp_path):
    write_collapse_log(tmp_path / "train.log")
    run, _ = only_run(tmp_path)
    assert run.source == "text" and run.landmarks == ["0", "1", "2", "3", "4"]
    assert len(run.predictions) == 7 * 6 * 5
    assert sorted(run.predictions["epoch"].unique()) == [2, 10, 20, 30, 40, 50, 60]
    assert values(run, "val/mre_px")["epoch"].tolist() == [2, 10, 20, 30, 40, 50, 60]
    assert len(values(run, "train/loss")) == 7
    [report] = analyze_paths([tmp_path])
    assert "prediction-collapse" in {d.id for d in report.diagnoses}


def test_text_lines_without_ids_are_one_point_per_image(tmp_path):
    (tmp_path / "debug.txt").write_text(
        "epoch: 1\n" + "".join(f"pred=(113.00, 61.00) gt=({120 + i}.5, {100 + 3 * i}.0) error=40\n" for i in range(8))
        + "pred=(1, 2) gt=(3, 4 error=truncated-here"
    )
    run, _ = only_run(tmp_path)
    assert run.predictions["image_id"].nunique() == 8 and set(run.predictions["landmark"]) == {"point"}
    assert run.predictions["pred_x"].eq(113.0).all()
    assert any("without a readable gt" in note for note in run.notes)


# ----------------------------------------------------- detection and skips
def test_detection_by_content_with_skip_reasons(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps([{"model": "hrnet", "scores": [1, 2]}]))
    (tmp_path / "a" / "settings.json").write_text(json.dumps({"model": "hrnet", "lr": 0.001}))
    (tmp_path / "a" / "empty.log").write_text("")
    (tmp_path / "a" / "notes.txt").write_text("nothing to see here\n")
    (tmp_path / "a" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "log.txt").write_text("step,loss\n1,0.5\n2,0.4\n")
    runs, skipped = discover(tmp_path)
    assert [(run.source, run.path.name) for run in runs] == [("csv", "b")]
    reasons = {note.path.name: note.reason for note in skipped}
    assert "none of the layouts" in reasons["results.json"]
    assert reasons["settings.json"] == "settings, with no log of a run beside them"
    assert reasons["empty.log"] == "empty file"
    assert "no epoch or step markers" in reasons["notes.txt"]
    assert "1 .png" in reasons[tmp_path.name]


def test_no_logs_at_all_is_one_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("hello\n")
    with pytest.raises(UserInputError, match="no runs found.*readme.txt"):
        collect_runs([tmp_path])


def test_cli_reads_other_logs_and_tells_which_files_on_stderr(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,loss,MRE\n" + "".join(
        f"{e},{e * 10},{1 / (e + 1):.3f},{5 - e * 0.1:.2f}\n" for e in range(6)))
    (tmp_path / "junk.json").write_text("[1, 2]\n")
    result = ceph_doctor("analyze", str(tmp_path), "--format", "json", "--map", "val/mre_mm=MRE",
                         "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["runs"][0]["source"] == "csv"
    assert "read csv run" in result.stderr and "metrics.csv" in result.stderr
    assert "skipped" in result.stderr and "junk.json" in result.stderr
    assert "monitoring val/mre_mm" in result.stderr


def test_fixes_render_as_mmengine_config_lines():
    from types import SimpleNamespace

    from ceph_doctor.engine.diagnosis import Fix
    from ceph_doctor.engine.fixes import planned_change
    from ceph_doctor.frameworks.mmengine import config_line, from_config
    from ceph_doctor.store.monitor import Monitor

    run = SimpleNamespace(config={"optimizer": {"lr": 0.0005}, "train": {"max_epochs": 60}},
                          monitor=Monitor("val/pck", "max", ""), names=[])

    def line(fix, on=run):
        return config_line(fix.key, planned_change(fix, on.config if on else {})[1], on,
                           f"<current> * {fix.value:g}")

    assert line(Fix("optimizer.lr", "multiply", 0.2, "")) == "optim_wrapper = dict(optimizer=dict(lr=0.0001))"
    assert line(Fix("codec.sigma", "set", 3, "")) == "codec = dict(sigma=3)"
    assert line(Fix("train.max_epochs", "multiply", 0.5, "")) == "train_cfg = dict(max_epochs=30)"
    assert line(Fix("train.early_stopping.patience", "enable", 5, "")) == (
        "custom_hooks = [dict(type='EarlyStoppingHook', monitor='pck', rule='greater', patience=5)]")
    assert line(Fix("optimizer.weight_decay", "multiply", 10, ""), None) == (
        "optim_wrapper = dict(optimizer=dict(weight_decay=<current> * 10))")
    assert line(Fix("model.unfreeze_after", "set", 5, "")) is None
    # The same table reads an MMEngine config back.
    assert from_config({"optim_wrapper": {"optimizer": {"lr": 0.004}}, "codec": {"sigma": [12, 12]},
                        "train_cfg": {"max_epochs": 300, "val_interval": 5}}) == {
        "optimizer": {"lr": 0.004}, "codec": {"sigma": 12}, "train": {"max_epochs": 300, "val_interval": 5}}


def test_a_folder_with_a_ceph_doctor_run_and_other_logs_gives_both(tmp_path):
    own = tmp_path / "runs" / "mine"
    own.mkdir(parents=True)
    (own / "manifest.json").write_text(json.dumps({"schema_version": 1, "landmarks": []}))
    (own / "scalars.csv").write_text("step,epoch,tag,value,wall_time\n1,1,train/loss,0.5,0\n")
    (tmp_path / "runs" / "theirs").mkdir()
    (tmp_path / "runs" / "theirs" / "metrics.csv").write_text("epoch,loss\n0,0.5\n1,0.4\n")
    runs, _ = collect_runs([tmp_path / "runs"])
    assert sorted((run.source, run.path.name) for run in runs) == [("ceph-doctor", "mine"), ("csv", "theirs")]
