"""Text logs in the shapes training scripts print them, and the JSON/CSV layouts beside them.

Each sample is written the way its tool prints (Keras 2 and 3 consoles, a PyTorch script's prints,
`key=value` lines, tqdm and Lightning bars with `\\r` updates, mmcv's `log.json`, Hugging Face's
trainer_state.json, MLflow's file store) and read back through `discover`, as `analyze` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ceph_doctor.importers import discover


def read(folder: Path, expected_runs: int = 1):
    runs, skipped = discover(folder)
    assert len(runs) == expected_runs, (runs, [str(s) for s in skipped])
    return runs if expected_runs > 1 else runs[0]


def curve(run, tag):
    rows = run.series(tag)
    return rows.epoch.tolist(), [round(float(v), 6) for v in rows.value]


def test_keras_console_lines(tmp_path):
    lines = []
    for epoch in range(1, 4):
        lines.append(f"Epoch {epoch}/20")
        # Keras 2 writes its bar with backspaces; the summary holds the epoch's values.
        lines.append(f"10/10 [==============================] - 1s 50ms/step - loss: {1 / epoch:.4f} - "
                     f"mean_radial_error: {9 - epoch:.4f} - val_loss: {1.5 / epoch:.4f} - val_mean_radial_error: "
                     f"{10 - epoch:.4f}")
    (tmp_path / "stdout.txt").write_text("\n".join(lines) + "\n")
    run = read(tmp_path)
    assert curve(run, "train/loss") == ([1, 2, 3], [1.0, 0.5, 0.3333])
    assert curve(run, "val/loss")[1] == [1.5, 0.75, 0.5]
    assert run.monitor.metric == "val/mean_radial_error" and run.monitor.mode == "min"
    assert run.config["train"]["max_epochs"] == 20


def test_keras3_console_and_pytorch_prints_with_units(tmp_path):
    (tmp_path / "keras3.log").write_text("".join(
        f"Epoch {e}/5\n3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 20ms/step - accuracy: 0.{e}0 - loss: 1.{9 - e} - "
        f"val_accuracy: 0.{e}5 - val_loss: 1.{8 - e}\n" for e in range(1, 6)))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "train.log").write_text("".join(
        f"2025-04-24 21:17:53,828 - INFO - Epoch [{e}/100], Train Loss: 0.{9 - e}000, Val Loss: 0.{9 - e}500, "
        f"Val MRE: {5 - 0.5 * e:.2f} mm, Val PCK: {40 + e}.0%\n" for e in range(1, 5)))
    keras, pytorch = sorted(discover(tmp_path)[0], key=lambda run: str(run.path))
    assert curve(keras, "train/accuracy")[1] == [0.1, 0.2, 0.3, 0.4, 0.5]  # beside val_accuracy: training's
    assert keras.monitor.metric == "val/accuracy"
    assert curve(pytorch, "val/mre_mm") == ([1, 2, 3, 4], [4.5, 4.0, 3.5, 3.0])  # the unit printed after the value
    assert pytorch.monitor.metric == "val/mre_mm" and pytorch.config["train"]["max_epochs"] == 100


def test_key_value_lines_and_a_printed_config_before_training(tmp_path):
    (tmp_path / "run.out").write_text(
        "config: lr=0.001 batch_size=8 loss_weight=2.0 pos_iou_thr=0.5\n"
        + "".join(f"epoch={e} loss={0.5 / e:.3f} val_nme={0.1 / e:.4f} lr=0.001\n" for e in range(1, 5)))
    run = read(tmp_path)
    assert curve(run, "val/nme")[1] == [0.1, 0.05, 0.0333, 0.025]
    assert "val/pos_iou_thr" not in run.tags and "train/loss/weight" not in run.tags  # the config line is no curve
    assert len(run.series("optim/lr")) == 4


def tqdm_bar(epoch: int, steps: int, postfix: dict, stale: dict) -> str:
    updates = []
    for step in range(1, steps + 1):
        shown = {**stale, "loss_step": round(1 / (epoch * steps + step), 4)}
        if step == steps:
            shown.update(postfix)
        text = ", ".join(f"{key}={value}" for key, value in shown.items())
        updates.append(f"Epoch {epoch}: {100 * step // steps:3d}%|####| {step}/{steps} [00:01<00:00, 8.1it/s, "
                       f"v_num=0, {text}]")
    return "\r".join(updates)


def test_progress_bars_keep_step_values_per_step_and_validations_once(tmp_path):
    bars, shown = [], {}
    for epoch in range(6):
        postfix = {"val_mre": round(5 - 0.5 * epoch, 2)} if epoch % 2 == 1 else {}  # validated every 2nd epoch
        bars.append(tqdm_bar(epoch, 4, postfix, shown))
        shown = {**shown, **postfix}
    (tmp_path / "slurm-1.out").write_bytes(("\r".join(bars) + "\n").encode())
    run = read(tmp_path)
    assert len(run.series("train/loss")) == 6 * 4  # a per-step value, one per bar position
    assert curve(run, "val/mre") == ([2, 4, 6], [4.5, 3.5, 2.5])  # 0-based epochs read 1-based; stale repeats dropped


def test_one_file_with_two_trainings_and_one_resumed_training(tmp_path):
    first = [f"Epoch [{e}/10] Train Loss: {1 / e:.3f} Val Acc: {50 + e}.0%" for e in range(1, 6)]
    second = [f"Epoch [{e}/10] Train Loss: {2 / e:.3f} Val Acc: {40 + e}.0%" for e in range(1, 4)]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "training.log").write_text("\n".join(first + ["Saved best model"] + second) + "\n")
    a1, a2 = read(tmp_path / "a", expected_runs=2)
    assert curve(a1, "val/Acc")[0] == [1, 2, 3, 4, 5] and curve(a2, "val/Acc")[0] == [1, 2, 3]
    assert "run 2 of 2 in training.log" in a2.notes[0]
    resumed = first + [f"Epoch [{e}/10] Train Loss: {0.9 / e:.3f} Val Acc: {60 + e}.0%" for e in range(4, 8)]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "training.log").write_text("\n".join(resumed) + "\n")
    run = read(tmp_path / "b")  # back to epoch 4, not to the start: a resumed run, the later lines win
    epochs, values = curve(run, "val/Acc")
    assert sorted(set(epochs)) == [1, 2, 3, 4, 5, 6, 7]
    assert run.monitor.metric == "val/Acc"
    from ceph_doctor.signals.series import by_epoch

    assert by_epoch(run, "val/Acc").value_at(5) == 65.0


def test_lightning_bars_split_on_v_num_and_the_summary_gives_the_trainable_fraction(tmp_path):
    def fit(version: int, frozen: bool) -> str:
        summary = ("  | Name | Type | Params\n0 | backbone | Net | 9.0 M\n1 | head | Linear | 1.0 M\n"
                   f"{'1.0 M' if frozen else '10.0 M'}     Trainable params\n"
                   f"{'9.0 M' if frozen else '0'}     Non-trainable params\n10.0 M    Total params\n")
        bars = "\r".join(f"Epoch {e}: 100%|####| 3/3 [00:01<00:00, v_num={version}, val_loss={2 - 0.1 * e:.2f}, "
                         f"train_loss={2.5 - 0.1 * e:.2f}]" for e in range(4))
        return summary + bars + "\n"

    (tmp_path / "job.out").write_text(fit(0, frozen=False) + fit(1, frozen=True))
    free, frozen = read(tmp_path, expected_runs=2)
    assert free.series("params/trainable_frac").value[-1] == pytest.approx(1.0)
    assert frozen.series("params/trainable_frac").value[-1] == pytest.approx(0.1)
    assert curve(frozen, "val/loss")[0] == [1, 2, 3, 4]


@pytest.mark.parametrize("shape", ["kpt", "name", "image-field", "json"])
def test_per_landmark_debug_prints_in_the_shapes_people_print(tmp_path, shape):
    rng = np.random.default_rng(1)
    names = ["Sella", "Nasion", "Orbitale"]
    lines, records = [], []
    for epoch in (1, 2):
        lines.append({"kpt": f"==> epoch {epoch}", "name": f"[Epoch {epoch}/30]",
                      "image-field": f"epoch: {epoch}", "json": ""}[shape])
        for image in range(4):
            truth = rng.uniform(20, 200, size=(3, 2))
            pred = truth + rng.normal(0, 2, size=(3, 2))
            if shape == "json":
                records.append({"epoch": epoch, "image": f"{image:03d}", "pred": pred.round(2).tolist(),
                                "gt": truth.round(2).tolist(), "landmarks": names})
                continue
            if shape != "image-field":
                lines.append(f"image {image:04d}.png" if shape == "kpt" else f"Image: {image}")
            for k, name in enumerate(names):
                pair = f"pred=({pred[k, 0]:.2f}, {pred[k, 1]:.2f}) gt=({truth[k, 0]:.2f}, {truth[k, 1]:.2f})"
                lines.append({"kpt": f"  kpt {k}: {pair} err={np.hypot(*(pred[k] - truth[k])):.2f}",
                              "name": f"  {name}: {pair}",
                              "image-field": f"img_id={image} landmark={name} {pair}"}[shape])
    text = "\n".join(json.dumps(r) for r in records) if shape == "json" else "\n".join(lines)
    (tmp_path / ("preds.jsonl" if shape == "json" else "debug.log")).write_text(text + "\n")
    run = read(tmp_path)
    assert len(run.predictions) == 2 * 4 * 3
    assert run.predictions["image_id"].nunique() == 4
    assert run.predictions["landmark"].nunique() == 3
    assert sorted(run.predictions["epoch"].unique()) == [1, 2]
    assert run.predictions["error_px"].max() < 10


def test_a_csv_of_per_image_predictions(tmp_path):
    rows = ["epoch,image,landmark,pred_x,pred_y,gt_x,gt_y"]
    for epoch in (1, 2, 3):
        for image in range(5):
            for k in range(4):
                rows.append(f"{epoch},{image:03d}.png,L{k},{41 + 0.1 * image},{33.0},{10 + 20 * k},{12 + 9 * image}")
    (tmp_path / "val_predictions.csv").write_text("\n".join(rows) + "\n")
    run = read(tmp_path)
    assert len(run.predictions) == 3 * 5 * 4 and run.landmarks == ["L0", "L1", "L2", "L3"]
    assert run.monitor.metric == "val/mre_px"  # the mean pred–truth distance, when nothing else was logged


def test_mmcv_log_json(tmp_path):
    lines = [json.dumps({"env_info": "sys.platform: linux", "config": "optimizer = dict(type='SGD', lr=0.003)\n"
                         "runner = dict(type='EpochBasedRunner', max_epochs=30)\nevaluation = dict(interval=1)\n"})]
    for epoch in (1, 2, 3):
        for it in (50, 100):
            lines.append(json.dumps({"mode": "train", "epoch": epoch, "iter": it, "lr": 0.003, "loss": 9 / epoch - it / 1000,
                                     "time": 0.1}))
        lines.append(json.dumps({"mode": "val", "epoch": epoch, "iter": 71, "lr": 0.003, "mAP": 0.5 + epoch / 10}))
    (tmp_path / "20230210_175449.log.json").write_text("\n".join(lines) + "\n")
    run = read(tmp_path)
    assert run.source == "mmengine"
    assert run.series("train/loss").step.tolist() == [50, 100, 150, 200, 250, 300]
    assert curve(run, "val/mAP") == ([1, 2, 3], [0.6, 0.7, 0.8])
    assert run.config["optimizer"]["lr"] == 0.003 and run.config["train"]["max_epochs"] == 30


@pytest.mark.parametrize("per_epoch", [True, False])
def test_hugging_face_trainer_state(tmp_path, per_epoch):
    history, step = [], 0
    for epoch in (1, 2, 3):
        for _ in range(2):
            step += 50
            history.append({"epoch": round(step / 100, 2), "learning_rate": 1e-4, "loss": 1 / step, "step": step})
        evaluated = epoch if per_epoch else round(step / 100 - 0.1, 2)
        history.append({"epoch": evaluated, "eval_loss": 0.5 / epoch, "eval_nme": 0.05 * (4 - epoch),
                        "eval_runtime": 1.2, "step": step})
    history.append({"epoch": 3.0, "step": step, "train_loss": 0.01, "train_runtime": 9.0, "total_flos": 1e12})
    state = {"best_metric": 0.05, "best_model_checkpoint": "out/checkpoint-300", "epoch": 3.0, "global_step": step,
             "log_history": history, "max_steps": step, "num_train_epochs": 3}
    (tmp_path / "checkpoint-300").mkdir()
    (tmp_path / "checkpoint-300" / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "checkpoint-200").mkdir()
    (tmp_path / "checkpoint-200" / "trainer_state.json").write_text(json.dumps({**state, "log_history": history[:6]}))
    runs, skipped = discover(tmp_path)
    [run] = runs
    assert run.source == "hf" and run.monitor.metric == "val/nme"  # best_metric is the nme at checkpoint-300
    assert run.axis == ("epoch" if per_epoch else "iteration")
    assert curve(run, "val/nme")[0] == [1, 2, 3]  # per epoch, or one epoch per evaluation
    assert len(run.series("train/loss")) == 6  # the summary record is no point of the curve
    assert any("an earlier copy" in note.reason for note in skipped)


def test_mlflow_file_store(tmp_path):
    run_dir = tmp_path / "mlruns" / "1" / "0a1b2c"
    (run_dir / "metrics" / "validation").mkdir(parents=True)
    (run_dir / "params").mkdir()
    (run_dir / "meta.yaml").write_text("run_id: 0a1b2c\nrun_name: hrnet-try\nstatus: 3\nexperiment_id: '1'\n")
    (run_dir / "params" / "learning_rate").write_text("0.0005")
    (run_dir / "params" / "epochs").write_text("40")
    (run_dir / "metrics" / "training.loss").write_text(
        "".join(f"{1700000000000 + s} {1 / (s + 1)} {s}\n" for s in range(0, 40, 4)))
    (run_dir / "metrics" / "validation" / "mre_px").write_text(
        "".join(f"{1700000000000 + s} {9 - s / 10} {s}\n" for s in range(3, 40, 4)))
    (run_dir / "metrics" / "epoch").write_text("".join(f"1700000000000 {s // 4} {s}\n" for s in range(0, 40, 4)))
    run = read(tmp_path)
    assert run.source == "mlflow" and run.manifest["status"] == "completed"
    assert run.monitor.metric == "val/mre_px"
    assert curve(run, "val/mre_px")[0] == list(range(1, 11))
    assert run.config == {"optimizer": {"lr": 0.0005}, "train": {"max_epochs": 40}}


def test_a_loss_on_normalised_coordinates_is_restated_in_pixels(tmp_path):
    from ceph_doctor.analyze import analyze_paths
    from ceph_doctor.report.run_facts import run_facts

    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n" + "".join(
        f"{e},{10 * e},{0.03 - 0.0001 * e:.5f},{0.027 + 0.0001 * (e % 2):.5f}\n" for e in range(20)))
    (tmp_path / "hparams.yaml").write_text("image_size: 1024\nlearning_rate: 0.001\nfreeze_backbone: true\n")
    [report] = analyze_paths([tmp_path])
    facts = dict(run_facts(report))
    assert report.run.monitor.metric == "val/loss"
    assert "≈ 27.6 px (0.027 × 1024 px, if it is measured on coordinates normalised to the image)" in facts["best"]
    assert report.signals.values["metric.best_px"].value == pytest.approx(27.648)


def test_a_run_without_any_validation_metric_is_not_judged(tmp_path):
    from rich.console import Console

    from ceph_doctor.analyze import analyze_paths
    from ceph_doctor.report import render_json, render_terminal

    (tmp_path / "log.txt").write_text("".join(f"epoch {e} loss {1 / e:.4f} lr 0.01\n" for e in range(1, 9)))
    [report] = analyze_paths([tmp_path])
    assert report.run.monitor is None and not report.diagnoses
    assert json.loads(render_json([report]))["runs"][0]["monitor"] is None
    console = Console(record=True, width=200)
    render_terminal([report], console)
    text = console.export_text()
    assert "not judged" in text and "no problems found" not in text


def test_a_resumed_training_is_said_so(tmp_path):
    lines = [f"Epoch [{e}/10] Train Loss: {1 / e:.3f} Val MRE: {9 - e / 2:.2f} mm" for e in range(1, 7)]
    lines += [f"Epoch [{e}/10] Train Loss: {0.9 / e:.3f} Val MRE: {8.8 - e / 2:.2f} mm" for e in range(4, 9)]
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    run = read(tmp_path)
    assert any("resumed at epoch 4 (line 7) after epoch 6" in note for note in run.notes)
