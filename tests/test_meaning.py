"""The name grammar: any spelling of a logged name, read by its parts, and the one monitored-metric choice."""

from __future__ import annotations

import numpy as np
import pytest

from ceph_doctor.store.meaning import direction, parse, tag
from ceph_doctor.store.monitor import Monitor, best_of, choose

# (logged name, split the format gave, expected tag, direction): other people's conventions, ours last.
SPELLINGS = [
    ("val_coords_loss_ar", None, "val/loss_ar", "min"),
    ("val/loss_teacher", None, "val/loss_tf", "min"),
    ("val/loss_free_running", None, "val/loss_ar", "min"),
    ("metrics/mAP50-95(P)", None, "val/metrics/mAP50-95(P)", "max"),
    ("Loss/train", None, "train/loss", "min"),
    ("Loss/val", None, "val/loss", "min"),
    ("eval_f1", None, "val/f1", "max"),
    ("coco/AP", "val", "val/coco/AP", "max"),
    ("NME", "val", "val/nme", "min"),
    ("val/pck@0.05", None, "val/pck@0.05", "max"),
    ("PCK@0.05 (%)", None, "val/pck@0.05", "max"),
    ("valPCK005", None, "val/pck@0.05", "max"),
    ("MRE (mm)", None, "val/mre_mm", "min"),
    ("val_mm_error", None, "val/mre_mm", "min"),
    ("validation.mre_px", None, "val/mre_px", "min"),
    ("mean_error_px", "val", "val/mre_px", "min"),
    ("SDR@2mm", None, "val/sdr_2mm", "max"),
    ("Train Loss", None, "train/loss", "min"),
    ("trainLoss", None, "train/loss", "min"),
    ("training.loss", None, "train/loss", "min"),
    ("loss_train", None, "train/loss", "min"),
    ("mre_val", None, "val/mre", "min"),
    ("valMeanRadialError", None, "val/MeanRadialError", "min"),
    ("lr-Adam", None, "optim/lr", None),
    ("learning_rate", None, "optim/lr", None),
    ("lr/pg1", None, "optim/lr/pg1", None),
    ("grad_norm", None, "grad/norm", None),
    ("grad_norm/backbone", None, "grad/norm/backbone", None),
    ("frac_trainable", None, "params/trainable_frac", None),
    ("trainable_params_pct", None, "params/trainable_frac", None),
    ("hm_max", "val", "val/heatmap_peak", None),
    ("max_heatmap_val", "val", "val/heatmap_peak", None),
    ("eval_runtime", None, None, None),
    ("data_time", "train", "perf/data_time_s", None),  # MMEngine's seconds waiting for a batch
    ("data_time", "val", None, None),  # an evaluation's speed is no scalar of the run
    ("batch_time", "train", "perf/step_time_s", None),  # the PyTorch examples' meter
    ("perf/data_wait_share", "train", "perf/data_wait_share", None),
    ("epoch", None, None, None),
    ("mIoU", "val", "val/mIoU", "max"),
    # ceph-doctor's own tags read as themselves
    ("val/mre_mm", None, "val/mre_mm", "min"),
    ("val/sdr_2.5mm", None, "val/sdr_2.5mm", "max"),
    ("train/loss_tf", None, "train/loss_tf", "min"),
    ("params/trainable_frac", None, "params/trainable_frac", None),
    ("optim/lr", None, "optim/lr", None),
]


@pytest.mark.parametrize("name, split, expected, better", SPELLINGS)
def test_names_are_read_by_their_parts(name, split, expected, better):
    meaning = parse(name)
    assert tag(meaning, meaning.split or split or ("train" if meaning.quantity == "loss" else "val")) == expected
    assert direction(name) == better


def test_parts_of_a_name():
    meaning = parse("val_coords_loss_ar")
    assert (meaning.split, meaning.quantity, meaning.decode, meaning.subject) == ("val", "loss", "ar", ("coords",))
    assert parse("coco/AR").quantity == "ar"  # alone, AR is average recall; beside a loss it is a decode
    assert parse("metrics/mAP50-95(B)").subject == ("box",)
    assert parse("train_loss_epoch").aggregation == "epoch"
    assert parse("not a metric at all").quantity is None


def test_the_monitor_prefers_landmark_metrics_and_the_keypoint_variant():
    assert choose(["val/loss", "val/pck", "val/epe"]).metric == "val/epe"
    assert choose(["val/loss", "val/mre_px", "val/mre_mm"]).metric == "val/mre_mm"
    yolo = ["val/metrics/mAP50-95(B)", "val/metrics/mAP50-95(P)", "val/metrics/mAP50(P)", "val/loss"]
    assert choose(yolo).metric == "val/metrics/mAP50-95(P)"
    assert choose(["val/acc", "val/best_acc", "train/loss"]).metric == "val/acc"
    assert choose(["val/loss", "train/loss"]) == Monitor("val/loss", "min", choose(["val/loss"]).why)
    assert choose(["train/loss", "optim/lr"]) is None


def test_a_declared_monitor_wins_when_it_was_logged():
    declared = {"metric": "val/pck", "mode": "max", "why": "save_best"}
    assert choose(["val/pck", "val/epe"], declared) == Monitor("val/pck", "max", "save_best")
    assert choose(["val/epe"], declared).metric == "val/epe"


def test_best_is_the_first_best_finite_value():
    epochs = np.array([1, 2, 3, 4])
    assert best_of(epochs, np.array([3.0, np.nan, 1.0, 1.0]), "min") == (3, 1.0)
    assert best_of(epochs, np.array([0.2, 0.9, np.inf, 0.9]), "max") == (2, 0.9)
    assert best_of(epochs, np.full(4, np.nan), "min") is None
    assert Monitor("m", "min", "").better(1.0, np.nan) and not Monitor("m", "min", "").better(np.nan, 1.0)
